"""Membership use cases: add by email (within the owner's plan), list, remove."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import func, select, update

from cloudtaskhub.clock import Clock
from cloudtaskhub.db import UnitOfWork
from cloudtaskhub.runtime import ModuleRuntime
from modules.project.contracts import MemberAdded, MemberRemoved, TaskUnassigned
from modules.project.errors import (
    AlreadyMember,
    MemberLimitReached,
    MemberNotFound,
    NotProjectManager,
    OwnerCannotBeRemoved,
    UnregisteredEmail,
)
from modules.project.models import DirectoryUserModel, MemberModel, TaskModel
from modules.project.service._access import MANAGERS, limits_of, load_membership
from modules.project.service._keyset import Ordering, decode_position, moment
from modules.project.service._views import MemberView, PageOf

__all__ = ["MemberService", "provide_member_service"]

_BY_JOINING = Ordering("members", MemberModel.added_at, MemberModel.user_id)


class MemberService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def add_member(self, caller: UUID, project_id: UUID, email: str, role: str) -> MemberView:
        """Add the registered user with `email` as `member` or `admin`; publishes MemberAdded.

        Raises ProjectNotFound (caller no member), NotProjectManager, UnregisteredEmail
        (nobody registered that email, as far as this module has heard), AlreadyMember,
        and MemberLimitReached when the owner's plan allows no more members.
        """
        email = email.strip().lower()
        async with self._uow.transaction() as tx:
            session = tx.session
            # The row lock serializes concurrent additions, so the member limit holds.
            project, caller_role = await load_membership(session, project_id, caller, lock=True)
            if caller_role not in MANAGERS:
                raise NotProjectManager(action="add members")
            user = await session.scalar(select(DirectoryUserModel).where(DirectoryUserModel.email == email))
            if user is None:
                raise UnregisteredEmail(email=email)
            if await session.get(MemberModel, (project_id, user.user_id)) is not None:
                raise AlreadyMember(email=email)
            members = await session.scalar(
                select(func.count()).select_from(MemberModel).where(MemberModel.project_id == project_id)
            )
            limits = await limits_of(session, project.owner_id)
            if not limits.allows(limits.members_per_project, int(members or 0)):
                raise MemberLimitReached(plan=limits.plan, limit=limits.members_per_project)
            member = MemberModel(
                project_id=project_id, user_id=user.user_id, role=role, added_at=self._clock.now()
            )
            session.add(member)
            await session.flush()
            await tx.record(MemberAdded(project_id=project_id, user_id=user.user_id, role=role))
            return MemberView(
                project_id=project_id,
                user_id=user.user_id,
                role=role,
                added_at=member.added_at,
                email=user.email,
                display_name=user.display_name,
            )

    async def list_members(
        self, caller: UUID, project_id: UUID, limit: int, position: list[Any] | None
    ) -> PageOf[MemberView]:
        """The project's members in the order they joined (the owner first). Raises ProjectNotFound."""
        after = decode_position(position, _BY_JOINING.name, moment)
        query = (
            select(MemberModel, DirectoryUserModel.email, DirectoryUserModel.display_name)
            .outerjoin(DirectoryUserModel, DirectoryUserModel.user_id == MemberModel.user_id)
            .where(MemberModel.project_id == project_id)
            .order_by(*_BY_JOINING.order_by())
            .limit(limit + 1)
        )
        if after is not None:
            query = query.where(_BY_JOINING.after(*after))
        async with self._uow.read() as session:
            await load_membership(session, project_id, caller)
            rows = (await session.execute(query)).all()
        items = [
            MemberView(
                project_id=m.project_id,
                user_id=m.user_id,
                role=m.role,
                added_at=m.added_at,
                email=email,
                display_name=name,
            )
            for m, email, name in rows[:limit]
        ]
        cursor = None
        if len(rows) > limit:
            cursor = [_BY_JOINING.name, items[-1].added_at.isoformat(), str(items[-1].user_id)]
        return PageOf(items, cursor)

    async def remove_member(self, caller: UUID, project_id: UUID, user_id: UUID) -> None:
        """Remove a member (owner or admin; anyone may remove themselves); publishes MemberRemoved.

        The removed member's tasks in the project become unassigned, without a
        further event: the catalog has no "unassigned" fact, and MemberRemoved
        tells consumers the person no longer works on the project.
        Raises ProjectNotFound, MemberNotFound, NotProjectManager, OwnerCannotBeRemoved.
        """
        async with self._uow.transaction() as tx:
            session = tx.session
            _, caller_role = await load_membership(session, project_id, caller)
            if caller != user_id and caller_role not in MANAGERS:
                raise NotProjectManager(action="remove members")
            member = await session.get(MemberModel, (project_id, user_id))
            if member is None:
                raise MemberNotFound()
            if member.role == "owner":
                raise OwnerCannotBeRemoved()
            unassigned = (
                await session.scalars(
                    update(TaskModel)
                    .where(TaskModel.project_id == project_id, TaskModel.assignee_id == user_id)
                    .values(assignee_id=None, updated_at=self._clock.now(), version=TaskModel.version + 1)
                    .returning(TaskModel.id)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            for task_id in unassigned:
                await tx.record(
                    TaskUnassigned(
                        task_id=task_id,
                        project_id=project_id,
                        previous_assignee_id=user_id,
                        unassigned_by=caller,
                    )
                )
            role = member.role
            await session.delete(member)
            await session.flush()
            await tx.record(MemberRemoved(project_id=project_id, user_id=user_id, role=role))


def provide_member_service(module: ModuleRuntime) -> MemberService:
    return MemberService(module.uow, module.clock)
