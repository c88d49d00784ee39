"""Analytics use cases: log and project each event, rebuild, and read the figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import ColumnElement, Select, delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloudtaskhub.clock import Clock
from cloudtaskhub.db import UnitOfWork
from cloudtaskhub.db.statements import insert_into
from cloudtaskhub.errors import NotFound
from cloudtaskhub.events.contract import Event
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.runtime import ModuleRuntime
from modules.analytics.models import (
    PROJECTIONS,
    ActivityModel,
    CompletionModel,
    EventLogModel,
    MemberModel,
    ProjectModel,
    TaskModel,
    UserModel,
)
from modules.analytics.projections import DONE, Occurrence, contract_for, project_event

__all__ = [
    "AnalyticsService",
    "BusinessTotals",
    "DayCount",
    "MyActivity",
    "Overview",
    "ProjectSummary",
    "provide_analytics_service",
]

#: Days covered by the per-day series, today included.
SERIES_DAYS = 30
#: Window of "recent" activity: completed tasks on /me, active users.
RECENT = timedelta(days=7)
STATUSES = ("todo", "in_progress", DONE)
REPLAY_BATCH = 500


class ProjectNotFound(NotFound):
    template = "project not found"


@dataclass(frozen=True)
class DayCount:
    date: date
    count: int


@dataclass(frozen=True)
class ProjectSummary:
    tasks_by_status: dict[str, int]
    created_per_day: list[DayCount]
    completed_per_day: list[DayCount]
    avg_lead_time_seconds: float | None
    overdue: int


@dataclass(frozen=True)
class MyActivity:
    tasks_completed_7d: int
    tasks_assigned_open: int
    projects: int


@dataclass(frozen=True)
class Overview:
    users: int
    projects: int
    tasks: int
    events_last_hour: int


@dataclass(frozen=True)
class BusinessTotals:
    tasks_created: int
    tasks_completed: int
    active_users: int


def _live_task(project_id: UUID | None = None) -> list[ColumnElement[bool]]:
    # A row without created_at is a task we heard of only through a later event so far.
    conditions: list[ColumnElement[bool]] = [
        TaskModel.deleted_at.is_(None),
        TaskModel.created_at.is_not(None),
    ]
    if project_id is not None:
        conditions.append(TaskModel.project_id == project_id)
    return conditions


class AnalyticsService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    # -- writing ---------------------------------------------------------------

    async def record(self, envelope: Envelope, event: Event) -> None:
        """Append the event to the log and apply it to the projections (one transaction).

        Exactly once per event id: the dispatcher's inbox row shares this transaction.
        """
        async with self._uow.transaction() as tx:
            await tx.session.execute(
                insert_into(EventLogModel),
                {
                    "event_id": envelope.id,
                    "type": envelope.type,
                    "source": envelope.source,
                    "subject": envelope.subject,
                    "time": envelope.time,
                    "data": bytes(envelope.data).decode(),
                },
            )
            await project_event(tx.session, Occurrence(event, envelope.id, envelope.time))

    async def rebuild(self, progress: Callable[[int, int], None] = lambda done, total: None) -> int:
        """Empty every projection and replay the whole log through the same projection code.

        Runs in one transaction, so readers see the old figures until the new ones
        commit; on PostgreSQL the log is locked meanwhile, so events arriving during
        the rebuild wait and are applied on top of it. `progress(done, total)` is
        called after each batch. Returns the number of events replayed.
        """
        async with self._uow.transaction(long=True) as tx:
            session = tx.session
            if session.get_bind().dialect.name == "postgresql":
                await session.execute(text(f"LOCK TABLE {EventLogModel.__tablename__} IN EXCLUSIVE MODE"))
            for table in PROJECTIONS:
                await session.execute(delete(table))
            session.expunge_all()
            total = int(await session.scalar(select(func.count()).select_from(EventLogModel)) or 0)
            done = 0
            progress(done, total)
            while done < total:
                batch = (
                    await session.scalars(
                        select(EventLogModel)
                        .order_by(EventLogModel.time, EventLogModel.seq)
                        .offset(done)
                        .limit(REPLAY_BATCH)
                    )
                ).all()
                if not batch:
                    break
                for row in batch:
                    await _replay(session, row)
                done += len(batch)
                session.expunge_all()  # keeps memory flat on a long log
                progress(done, total)
        return done

    # -- reading ---------------------------------------------------------------

    async def project_summary(self, project_id: UUID, user_id: UUID) -> ProjectSummary:
        """Figures of one project. Raises ProjectNotFound unless `user_id` is a member."""
        today = self._clock.now().date()
        first_day = today - timedelta(days=SERIES_DAYS - 1)
        async with self._uow.read() as session:
            if await session.get(MemberModel, (project_id, user_id)) is None:
                raise ProjectNotFound()
            by_status = dict(
                (
                    await session.execute(
                        select(TaskModel.status, func.count())
                        .where(*_live_task(project_id))
                        .group_by(TaskModel.status)
                    )
                ).all()
            )
            created = dict(
                (
                    await session.execute(
                        select(TaskModel.created_day, func.count())
                        .where(TaskModel.project_id == project_id, TaskModel.created_day >= first_day)
                        .group_by(TaskModel.created_day)
                    )
                ).all()
            )
            completed = dict(
                (
                    await session.execute(
                        select(CompletionModel.day, func.count())
                        .where(
                            CompletionModel.project_id == project_id,
                            CompletionModel.day >= first_day,
                        )
                        .group_by(CompletionModel.day)
                    )
                ).all()
            )
            lead = await session.scalar(
                select(func.avg(TaskModel.lead_time_seconds)).where(
                    *_live_task(project_id), TaskModel.status == DONE
                )
            )
            overdue = await session.scalar(
                select(func.count()).where(
                    *_live_task(project_id), TaskModel.status != DONE, TaskModel.due_date < today
                )
            )
        days = [first_day + timedelta(days=n) for n in range(SERIES_DAYS)]
        return ProjectSummary(
            tasks_by_status={s: int(by_status.get(s, 0)) for s in STATUSES},
            created_per_day=[DayCount(d, int(created.get(d, 0))) for d in days],
            completed_per_day=[DayCount(d, int(completed.get(d, 0))) for d in days],
            avg_lead_time_seconds=float(lead) if lead is not None else None,
            overdue=int(overdue or 0),
        )

    async def my_activity(self, user_id: UUID) -> MyActivity:
        """The caller's figures: tasks they moved to done in 7 days, open tasks assigned
        to them, projects they belong to."""
        since = self._clock.now() - RECENT
        async with self._uow.read() as session:
            completed = await session.scalar(
                select(func.count()).where(
                    CompletionModel.user_id == user_id, CompletionModel.completed_at >= since
                )
            )
            assigned = await session.scalar(
                select(func.count()).where(
                    *_live_task(), TaskModel.assignee_id == user_id, TaskModel.status != DONE
                )
            )
            projects = await session.scalar(
                select(func.count()).select_from(MemberModel).where(MemberModel.user_id == user_id)
            )
        return MyActivity(int(completed or 0), int(assigned or 0), int(projects or 0))

    async def overview(self) -> Overview:
        """Totals over everyone: users, live projects, live tasks, events in the last hour."""
        since = self._clock.now() - timedelta(hours=1)
        async with self._uow.read() as session:
            users = await _count(session, select(func.count()).select_from(UserModel))
            projects = await _count(session, select(func.count()).where(ProjectModel.deleted_at.is_(None)))
            tasks = await _count(session, select(func.count()).where(*_live_task()))
            events = await _count(session, select(func.count()).where(EventLogModel.time >= since))
        return Overview(users, projects, tasks, events)

    async def business_totals(self) -> BusinessTotals:
        """What the Prometheus business metrics show."""
        since = self._clock.now() - RECENT
        async with self._uow.read() as session:
            created = await _count(session, select(func.count()).where(TaskModel.created_at.is_not(None)))
            completed = await _count(session, select(func.count()).select_from(CompletionModel))
            active = await _count(session, select(func.count()).where(ActivityModel.last_event_at >= since))
        return BusinessTotals(created, completed, active)


async def _count(session: AsyncSession, statement: Select[Any]) -> int:
    return int(await session.scalar(statement) or 0)


async def _replay(session: AsyncSession, row: EventLogModel) -> None:
    contract = contract_for(row.type)
    if contract is None:  # logged by an older version that consumed more types
        return
    event = msgspec.json.decode(row.data, type=contract)
    await project_event(session, Occurrence(event, row.event_id, row.time))


def provide_analytics_service(module: ModuleRuntime) -> AnalyticsService:
    return AnalyticsService(module.uow, module.clock)
