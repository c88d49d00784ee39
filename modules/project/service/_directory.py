"""Read models fed by other modules' events: the user directory and plan limits."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete

from cloudtaskhub.db import UnitOfWork
from cloudtaskhub.runtime import ModuleRuntime
from modules.project.models import DirectoryUserModel, PlanLimitsModel

__all__ = ["DirectoryService", "provide_directory_service"]


class DirectoryService:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def record_user(self, user_id: UUID, email: str, display_name: str) -> None:
        """Remember a registered user so members can be added by email (idempotent)."""
        email = email.strip().lower()
        async with self._uow.transaction() as tx:
            session = tx.session
            # An email belongs to one account; a stale holder (should auth ever
            # re-issue it) gives way to the latest registration.
            await session.execute(
                delete(DirectoryUserModel).where(
                    DirectoryUserModel.email == email, DirectoryUserModel.user_id != user_id
                )
            )
            user = await session.get(DirectoryUserModel, user_id)
            if user is None:
                session.add(DirectoryUserModel(user_id=user_id, email=email, display_name=display_name[:100]))
            else:
                user.email, user.display_name = email, display_name[:100]

    async def record_plan_limits(
        self, user_id: UUID, plan: str, projects: int, members_per_project: int, changed_at: datetime
    ) -> None:
        """Remember a user's plan limits; an event older than the one applied is ignored."""
        async with self._uow.transaction() as tx:
            limits = await tx.session.get(PlanLimitsModel, user_id)
            if limits is None:
                tx.session.add(
                    PlanLimitsModel(
                        user_id=user_id,
                        plan=plan,
                        projects=projects,
                        members_per_project=members_per_project,
                        updated_at=changed_at,
                    )
                )
            elif limits.updated_at <= changed_at:
                limits.plan = plan
                limits.projects = projects
                limits.members_per_project = members_per_project
                limits.updated_at = changed_at


def provide_directory_service(module: ModuleRuntime) -> DirectoryService:
    return DirectoryService(module.uow)
