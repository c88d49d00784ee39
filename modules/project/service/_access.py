"""Who may do what in a project, and the plan limits its quota checks apply."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from modules.project.errors import ProjectNotFound
from modules.project.models import MemberModel, PlanLimitsModel, ProjectModel

__all__ = [
    "FREE_LIMITS",
    "MANAGERS",
    "Limits",
    "limits_of",
    "load_membership",
    "owner_for_member",
]

#: Roles that manage members and edit the project itself.
MANAGERS = frozenset({"owner", "admin"})


class Limits:
    """A user's plan limits as the project module last heard them. Negative = unlimited."""

    __slots__ = ("members_per_project", "plan", "projects", "tasks_per_month")

    def __init__(self, plan: str, projects: int, members_per_project: int, tasks_per_month: int) -> None:
        self.plan = plan
        self.projects = projects
        self.members_per_project = members_per_project
        self.tasks_per_month = tasks_per_month

    @staticmethod
    def allows(limit: int, current: int) -> bool:
        return limit < 0 or current < limit


#: Until billing tells otherwise, every user is on the free plan.
FREE_LIMITS = Limits("free", projects=3, members_per_project=5, tasks_per_month=100)


async def load_membership(
    session: AsyncSession, project_id: UUID, user_id: UUID, *, lock: bool = False
) -> tuple[ProjectModel, str]:
    """The project and the caller's role in it; ProjectNotFound when the caller is no member."""
    query = (
        select(ProjectModel, MemberModel.role)
        .join(MemberModel, MemberModel.project_id == ProjectModel.id)
        .where(ProjectModel.id == project_id, MemberModel.user_id == user_id)
    )
    if lock:
        query = query.with_for_update(of=ProjectModel)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise ProjectNotFound()
    return row[0], row[1]


async def limits_of(session: AsyncSession, user_id: UUID) -> Limits:
    row = await session.get(PlanLimitsModel, user_id)
    if row is None:
        return FREE_LIMITS
    return Limits(row.plan, row.projects, row.members_per_project, row.tasks_per_month)


_PROJECTS, _MEMBERS = ProjectModel.__table__, MemberModel.__table__
#: Built once, on the tables (not the mapped classes): a Core statement the session runs
#: without the ORM's compile state, and no statement built per request.
_OWNER_FOR_MEMBER = (
    select(_PROJECTS.c.owner_id)
    .join(_MEMBERS, _MEMBERS.c.project_id == _PROJECTS.c.id)
    .where(_PROJECTS.c.id == bindparam("project_id"), _MEMBERS.c.user_id == bindparam("user_id"))
)


async def owner_for_member(session: AsyncSession, project_id: UUID, user_id: UUID) -> UUID:
    """The project's owner, when `user_id` is a member of it; ProjectNotFound otherwise.

    For a write that needs only the owner (a task's creation counts against the owner's
    plan): `load_membership` builds its statement and loads the project as an entity."""
    parameters = {"project_id": project_id, "user_id": user_id}
    owner: UUID | None = await session.scalar(_OWNER_FOR_MEMBER, parameters)
    if owner is None:
        raise ProjectNotFound()
    return owner
