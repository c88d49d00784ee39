"""Read models fed by other modules' events: the user directory and plan limits."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import delete

from cloudtaskhub.db import UnitOfWork
from cloudtaskhub.runtime import ModuleRuntime
from modules.billing.contracts import PlanLimits
from modules.project.models import DirectoryUserModel, PlanLimitsModel
from modules.project.service._quota import ensure_plan_row

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
        self,
        user_id: UUID,
        plan: str,
        limits: PlanLimits,
        period_end: datetime,
        changed_at: datetime,
    ) -> None:
        """Remember a user's plan limits and billing period (idempotent).

        Limits from an event older than the one applied are ignored. A later
        `period_end` than the one known starts a new period: the task count
        restarts at 0 (billing renewed the subscription). The first period heard
        of keeps the count of tasks created before billing's first event.
        """
        async with self._uow.transaction() as tx:
            session = tx.session
            await ensure_plan_row(session, user_id)
            # Locked: a task creation for this owner waits, so the count it bumps is
            # the one of the period this event leaves in place.
            row = await session.get(PlanLimitsModel, user_id, with_for_update=True, populate_existing=True)
            assert row is not None  # ensure_plan_row inserted it
            if row.updated_at <= changed_at:
                row.plan = plan
                row.projects = limits.projects
                row.members_per_project = limits.members_per_project
                row.tasks_per_month = limits.tasks_per_month
                row.updated_at = changed_at
            if row.period_end is None:
                row.period_end = period_end
            elif period_end > row.period_end:
                row.period_end = period_end
                row.tasks_created = 0


def provide_directory_service(module: ModuleRuntime) -> DirectoryService:
    return DirectoryService(module.uow)
