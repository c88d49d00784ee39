"""Project use cases: create (within the plan's quota), list, read, rename, delete."""

from __future__ import annotations

import functools
from typing import Any
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy import Integer, Select, bindparam, delete, func, insert, select
from sqlalchemy.orm.exc import StaleDataError

from cloudtaskhub.clock import Clock, new_id
from cloudtaskhub.db import UnitOfWork, plain, serialize_per
from cloudtaskhub.runtime import ModuleRuntime
from modules.project.contracts import MemberRemoved, ProjectCreated, ProjectDeleted, TaskDeleted
from modules.project.errors import (
    NotProjectManager,
    NotProjectOwner,
    ProjectLimitReached,
    StaleProject,
)
from modules.project.models import MemberModel, ProjectModel, TaskModel
from modules.project.service._access import MANAGERS, limits_of, load_membership
from modules.project.service._keyset import Ordering, decode_position, moment
from modules.project.service._views import PageOf, ProjectView

__all__ = ["ProjectService", "provide_project_service"]

_BY_CREATION = Ordering("projects", ProjectModel.created_at, ProjectModel.id)


@functools.cache
def _list_statement(dialect: str, after: bool) -> Select[Any]:
    """The caller's projects, one page, in one Core statement built once (values bound per call).

    The columns in `ProjectView` order, as the driver returns them (msgspec converts them).
    """
    query = (
        select(
            plain(ProjectModel.id, dialect),
            ProjectModel.name,
            ProjectModel.description,
            plain(ProjectModel.owner_id, dialect),
            plain(ProjectModel.created_at, dialect),
            plain(ProjectModel.updated_at, dialect),
            ProjectModel.version,
            MemberModel.role,
        )
        .join(MemberModel, MemberModel.project_id == ProjectModel.id)
        .where(MemberModel.user_id == bindparam("user_id"))
    )
    if after:
        query = query.where(
            _BY_CREATION.after(
                bindparam("after_key", type_=ProjectModel.created_at.type),
                bindparam("after_id", type_=ProjectModel.id.type),
            )
        )
    return query.order_by(*_BY_CREATION.order_by()).limit(bindparam("limit", type_=Integer))


_PROJECT_VIEWS = list[ProjectView]


def _view(project: ProjectModel, role: str) -> ProjectView:
    return ProjectView(
        id=project.id,
        name=project.name,
        description=project.description,
        owner_id=project.owner_id,
        created_at=project.created_at,
        updated_at=project.updated_at,
        version=project.version,
        role=role,
    )


class ProjectService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def create_project(self, owner_id: UUID, name: str, description: str | None) -> ProjectView:
        """Create a project owned (and joined as `owner`) by the caller; publishes ProjectCreated.

        Raises ProjectLimitReached when the caller already owns as many projects as
        their plan allows (the free plan until billing says otherwise).
        """
        async with self._uow.transaction() as tx:
            session = tx.session
            await serialize_per(session, f"project:{owner_id}")
            limits = await limits_of(session, owner_id)
            owned = await session.scalar(
                select(func.count()).select_from(ProjectModel).where(ProjectModel.owner_id == owner_id)
            )
            if not limits.allows(limits.projects, int(owned or 0)):
                raise ProjectLimitReached(plan=limits.plan, limit=limits.projects)
            now = self._clock.now()
            view = ProjectView(
                id=new_id(),
                name=name.strip(),
                description=description,
                owner_id=owner_id,
                created_at=now,
                updated_at=now,
                version=1,
                role="owner",
            )
            # Core inserts: new rows need none of the ORM's unit of work.
            await session.execute(
                insert(ProjectModel.__table__).values(
                    id=view.id,
                    name=view.name,
                    description=description,
                    owner_id=owner_id,
                    created_at=now,
                    updated_at=now,
                    version=view.version,
                )
            )
            await session.execute(
                insert(MemberModel.__table__).values(
                    project_id=view.id, user_id=owner_id, role="owner", added_at=now
                )
            )
            await tx.record(ProjectCreated(project_id=view.id, owner_id=owner_id, name=view.name))
            return view

    async def list_projects(
        self, user_id: UUID, limit: int, position: list[Any] | None
    ) -> PageOf[ProjectView]:
        """The projects the caller is a member (or the owner) of, oldest first."""
        after = decode_position(position, _BY_CREATION.name, moment)
        parameters: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
        if after is not None:
            parameters["after_key"], parameters["after_id"] = after
        rows = await self._uow.rows(_list_statement(self._uow.dialect, after is not None), parameters)
        items = msgspec.convert([tuple(row) for row in rows[:limit]], _PROJECT_VIEWS)
        cursor = None
        if len(rows) > limit:
            last = items[-1]
            cursor = [_BY_CREATION.name, last.created_at.isoformat(), str(last.id)]
        return PageOf(items, cursor)

    async def get_project(self, user_id: UUID, project_id: UUID) -> ProjectView:
        """Raises ProjectNotFound for non-members."""
        async with self._uow.read() as session:
            project, role = await load_membership(session, project_id, user_id)
            return _view(project, role)

    async def update_project(
        self,
        user_id: UUID,
        project_id: UUID,
        *,
        name: str | UnsetType = UNSET,
        description: str | UnsetType | None = UNSET,
        expected_version: int | None = None,
    ) -> ProjectView:
        """Rename or re-describe a project (owner or admin).

        Raises ProjectNotFound, NotProjectManager, and StaleProject when
        `expected_version` (If-Match) is not the current version.
        """
        try:
            async with self._uow.transaction() as tx:
                project, role = await load_membership(tx.session, project_id, user_id)
                if role not in MANAGERS:
                    raise NotProjectManager(action="edit the project")
                if expected_version is not None and expected_version != project.version:
                    raise StaleProject(current=project.version)
                changed = False
                if name is not UNSET and name.strip() != project.name:
                    project.name = name.strip()
                    changed = True
                if description is not UNSET and description != project.description:
                    project.description = description
                    changed = True
                if changed:
                    project.updated_at = self._clock.now()
                    await tx.session.flush()
                return _view(project, role)
        except StaleDataError:  # another writer committed between our read and our update
            async with self._uow.read() as session:
                current = await session.scalar(
                    select(ProjectModel.version).where(ProjectModel.id == project_id)
                )
            raise StaleProject(current=current) from None

    async def delete_project(
        self, user_id: UUID, project_id: UUID, *, expected_version: int | None = None
    ) -> None:
        """Delete a project with its members and tasks (owner only).

        Publishes TaskDeleted for each task and MemberRemoved for each member
        (the owner included), then ProjectDeleted — all in one transaction.
        Raises ProjectNotFound, NotProjectOwner, StaleProject.
        """
        async with self._uow.transaction() as tx:
            session = tx.session
            project, role = await load_membership(session, project_id, user_id, lock=True)
            if role != "owner":
                raise NotProjectOwner(action="delete the project")
            if expected_version is not None and expected_version != project.version:
                raise StaleProject(current=project.version)
            tasks = (
                await session.execute(
                    select(TaskModel.id, TaskModel.assignee_id, TaskModel.status)
                    .where(TaskModel.project_id == project_id)
                    .order_by(TaskModel.id)
                )
            ).all()
            for task_id, assignee_id, status in tasks:
                await tx.record(
                    TaskDeleted(
                        task_id=task_id, project_id=project_id, assignee_id=assignee_id, status=status
                    )
                )
            members = (
                await session.execute(
                    select(MemberModel.user_id, MemberModel.role)
                    .where(MemberModel.project_id == project_id)
                    .order_by(MemberModel.added_at, MemberModel.user_id)
                )
            ).all()
            for member_id, member_role in members:
                await tx.record(MemberRemoved(project_id=project_id, user_id=member_id, role=member_role))
            await tx.record(
                ProjectDeleted(project_id=project_id, owner_id=project.owner_id, name=project.name)
            )
            # Members, tasks and labels go with the project (ON DELETE CASCADE).
            session.expunge(project)
            await session.execute(delete(ProjectModel).where(ProjectModel.id == project_id))


def provide_project_service(module: ModuleRuntime) -> ProjectService:
    return ProjectService(module.uow, module.clock)
