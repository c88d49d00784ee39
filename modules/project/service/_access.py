"""Who may do what in a project, and the plan limits its quota checks apply."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from modules.project.errors import ProjectNotFound
from modules.project.models import MemberModel, PlanLimitsModel, ProjectModel

__all__ = [
    "FREE_LIMITS",
    "MANAGERS",
    "Limits",
    "limits_of",
    "load_membership",
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
