"""The monthly task quota: tasks created in an owner's projects during billing's period.

The project module never asks billing anything. Its plan read model
(`project_plan_limits`, fed by `billing.subscription_changed`) holds the owner's
`tasks_per_month`, the end of billing's current period and a counter of the tasks
created in that period. The counter goes up in the transaction that inserts the task,
and restarts only when billing announces a later period: the billing clock decides
when a month ends, not this module's. Deleting a task does not lower it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloudtaskhub.db.statements import DialectInsert, built_once
from modules.project.errors import TaskLimitReached
from modules.project.models import PlanLimitsModel
from modules.project.service._access import FREE_LIMITS

__all__ = ["NOT_HEARD", "count_task_creation", "ensure_plan_row"]

#: `updated_at` of a row written before billing's first event about the user: any
#: event is newer, so the first one always applies.
NOT_HEARD = datetime(1970, 1, 1, tzinfo=UTC)
_T = PlanLimitsModel.__table__


def _free_row(user_id: UUID, tasks_created: int) -> dict[str, Any]:
    """The free plan's row, for a user billing has not told us about yet."""
    return {
        "user_id": user_id,
        "plan": FREE_LIMITS.plan,
        "projects": FREE_LIMITS.projects,
        "members_per_project": FREE_LIMITS.members_per_project,
        "tasks_per_month": FREE_LIMITS.tasks_per_month,
        "period_end": None,
        "tasks_created": tasks_created,
        "updated_at": NOT_HEARD,
    }


def _count_under_limit(insert: DialectInsert) -> Any:
    """The row, or one more task on it while its count is under the plan's limit."""
    return insert.on_conflict_do_update(
        index_elements=["user_id"],
        set_={"tasks_created": _T.c.tasks_created + 1},
        where=or_(_T.c.tasks_per_month < 0, _T.c.tasks_created < _T.c.tasks_per_month),
    ).returning(_T.c.tasks_created)


async def ensure_plan_row(session: AsyncSession, user_id: UUID) -> None:
    """Make sure the user's row exists (free limits if new), so it can be locked and updated."""
    statement = built_once(
        session, _T, "ensure", lambda insert: insert.on_conflict_do_nothing(index_elements=["user_id"])
    )
    await session.execute(statement, _free_row(user_id, 0))


async def count_task_creation(session: AsyncSession, owner_id: UUID) -> None:
    """Count one more task created in `owner_id`'s projects this period, or raise TaskLimitReached.

    One statement: an upsert whose update only happens while the count is under the
    limit. On PostgreSQL a concurrent creation for the same owner waits on the row lock
    and then re-checks the condition against the committed count, so two creations
    racing for the last slot cannot both pass; on SQLite writers are serialized
    already (BEGIN IMMEDIATE). The caller's transaction rolls the count back with the
    task if anything later fails.
    """
    statement = built_once(session, _T, "count_task_creation", _count_under_limit)
    if (await session.execute(statement, _free_row(owner_id, 1))).first() is not None:
        return
    plan, limit, period_end = (
        await session.execute(
            select(_T.c.plan, _T.c.tasks_per_month, _T.c.period_end).where(_T.c.user_id == owner_id)
        )
    ).one()
    end = None if period_end is None else period_end.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TaskLimitReached(
        plan=plan, limit=limit, period_end=end, ends=f"at {end}" if end else "when billing next renews it"
    )
