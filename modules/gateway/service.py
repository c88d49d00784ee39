"""Gateway use cases: keep the live topology and the dashboard read model, and describe them."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import Select, bindparam, delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from cloudtaskhub.clock import Clock
from cloudtaskhub.db import UnitOfWork, dialect_insert
from cloudtaskhub.db.rows import plain
from cloudtaskhub.db.statements import insert_ignoring, upsert_setting
from cloudtaskhub.events.heartbeat import Heartbeat
from cloudtaskhub.runtime import ModuleRuntime
from modules.gateway.models import (
    MembershipModel,
    NotificationModel,
    ProcessModel,
    ProjectModel,
    TaskModel,
    UserPlanModel,
)

__all__ = [
    "Dashboard",
    "DashboardService",
    "ProjectRef",
    "StatusService",
    "Topology",
    "provide_dashboard_service",
    "provide_status_service",
]

#: A process that missed this many heartbeats is shown as not alive.
MISSED_BEATS_ALLOWED = 3
#: Processes silent for this long are forgotten.
FORGET_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Topology:
    processes: list[ProcessModel]
    alive_after: datetime

    @property
    def mode(self) -> str:
        alive = [p for p in self.processes if p.last_seen >= self.alive_after]
        if not alive:
            return "unknown"
        return (
            "all-in-one"
            if any(
                len({p.module for p in alive if p.process == process}) > 1
                for process in {p.process for p in alive}
            )
            else "split"
        )


class StatusService:
    def __init__(self, uow: UnitOfWork, clock: Clock, heartbeat_interval: float) -> None:
        self._uow = uow
        self._clock = clock
        self._interval = heartbeat_interval

    async def record_heartbeat(self, beat: Heartbeat) -> None:
        """Remember the latest heartbeat of (module, process); older ones never win."""
        async with self._uow.transaction() as tx:
            row = await tx.session.get(ProcessModel, (beat.module, beat.process))
            if row is None:
                row = ProcessModel(module=beat.module, process=beat.process, last_seen=beat.sent_at)
                tx.session.add(row)
            elif row.last_seen > beat.sent_at:
                return
            row.version = beat.version
            row.bus = beat.bus
            row.outbox_backlog = beat.outbox_backlog
            row.dead_letters = beat.dead_letters
            row.last_seen = beat.sent_at
            await tx.session.execute(
                delete(ProcessModel).where(ProcessModel.last_seen < self._clock.now() - FORGET_AFTER)
            )

    async def topology(self) -> Topology:
        async with self._uow.read() as session:
            rows = list(
                (
                    await session.scalars(
                        select(ProcessModel).order_by(ProcessModel.module, ProcessModel.process)
                    )
                ).all()
            )
        alive_after = self._clock.now() - timedelta(seconds=self._interval * MISSED_BEATS_ALLOWED)
        return Topology(rows, alive_after)


def provide_status_service(module: ModuleRuntime) -> StatusService:
    return StatusService(module.uow, module.clock, module.settings.heartbeat_interval_seconds)


# -- the dashboard -------------------------------------------------------------

DEFAULT_PLAN = "free"
DONE = "done"


class ProjectRef(msgspec.Struct, frozen=True, array_like=True):
    """A row of `_dashboard_statement`'s (project_id, name), converted by msgspec in C."""

    id: UUID
    name: str


_PROJECT_REFS = list[ProjectRef]


@dataclass(frozen=True)
class Dashboard:
    projects: list[ProjectRef]
    open_tasks_assigned: int
    unread_notifications: int
    plan: str


class DashboardService:
    """Keeps the dashboard read model from other modules' events and composes it.

    Every update is idempotent on its own (upserts, tombstones), and events about
    one aggregate arrive in order, so duplicates and interleavings converge.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    # -- users and plans ---------------------------------------------------------

    async def welcome_user(self, user_id: UUID) -> None:
        """A new user starts on the free plan."""
        async with self._uow.transaction() as tx:
            if await tx.session.get(UserPlanModel, user_id) is None:
                tx.session.add(UserPlanModel(user_id=user_id, plan=DEFAULT_PLAN, changed_at=None))

    async def change_plan(self, user_id: UUID, plan: str, changed_at: datetime) -> None:
        """Show `plan` from `changed_at` on, unless a newer change is already shown."""
        async with self._uow.transaction() as tx:
            row = await tx.session.get(UserPlanModel, user_id)
            if row is None:
                tx.session.add(UserPlanModel(user_id=user_id, plan=plan, changed_at=changed_at))
            elif row.changed_at is None or row.changed_at <= changed_at:
                row.plan = plan
                row.changed_at = changed_at

    # -- projects and members ----------------------------------------------------

    async def open_project(self, project_id: UUID, owner_id: UUID, name: str) -> None:
        async with self._uow.transaction() as tx:
            project = await tx.session.get(ProjectModel, project_id)
            if project is None:
                tx.session.add(ProjectModel(project_id=project_id, name=name, deleted=False))
            elif project.deleted:
                return
            await _join(tx.session, project_id, owner_id)

    async def close_project(self, project_id: UUID, name: str) -> None:
        async with self._uow.transaction() as tx:
            project = await tx.session.get(ProjectModel, project_id)
            if project is None:
                tx.session.add(ProjectModel(project_id=project_id, name=name, deleted=True))
            else:
                project.deleted = True
            await tx.session.execute(delete(MembershipModel).where(MembershipModel.project_id == project_id))

    async def add_member(self, project_id: UUID, user_id: UUID) -> None:
        async with self._uow.transaction() as tx:
            project = await tx.session.get(ProjectModel, project_id)
            if project is None or not project.deleted:
                await _join(tx.session, project_id, user_id)

    async def remove_member(self, project_id: UUID, user_id: UUID) -> None:
        async with self._uow.transaction() as tx:
            await tx.session.execute(
                delete(MembershipModel).where(
                    MembershipModel.project_id == project_id, MembershipModel.user_id == user_id
                )
            )

    # -- tasks ---------------------------------------------------------------------

    # Task events are the hot path: one upsert each, no ORM object loaded.

    async def track_task(
        self, task_id: UUID, project_id: UUID, assignee_id: UUID | None, status: str
    ) -> None:
        """A task was created; a row made by a later event that came first keeps its values."""
        async with self._uow.transaction() as tx:
            row = {"task_id": task_id, "project_id": project_id, "assignee_id": assignee_id, "status": status}
            await tx.session.execute(insert_ignoring(tx.session, TaskModel), row)

    async def assign_task(self, task_id: UUID, project_id: UUID, assignee_id: UUID | None) -> None:
        await self._upsert_task(task_id, project_id, assignee_id=assignee_id)

    async def change_task_status(self, task_id: UUID, project_id: UUID, status: str) -> None:
        await self._upsert_task(task_id, project_id, status=status)

    async def _upsert_task(self, task_id: UUID, project_id: UUID, **changes: Any) -> None:
        """Set `changes` on the task's row; created (todo, unassigned) when a later event came first."""
        row = {"task_id": task_id, "project_id": project_id, "assignee_id": None, "status": "todo", **changes}
        async with self._uow.transaction() as tx:
            statement = upsert_setting(tx.session, TaskModel, TaskModel.__table__.c.task_id, changes)
            await tx.session.execute(statement, row)

    async def forget_task(self, task_id: UUID, project_id: UUID) -> None:
        await self._upsert_task(task_id, project_id, deleted=True)

    # -- notifications ---------------------------------------------------------------

    async def count_notification(self, notification_id: UUID, user_id: UUID) -> None:
        row = {"notification_id": notification_id, "user_id": user_id, "read": False}
        async with self._uow.transaction() as tx:
            await tx.session.execute(insert_ignoring(tx.session, NotificationModel), row)

    async def mark_notification_read(self, notification_id: UUID, user_id: UUID) -> None:
        """Read before we heard it was created: remembered as read."""
        async with self._uow.transaction() as tx:
            statement = dialect_insert(tx.session, NotificationModel).values(
                notification_id=notification_id, user_id=user_id, read=True
            )
            await tx.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[NotificationModel.notification_id], set_={"read": True}
                )
            )

    # -- reading -------------------------------------------------------------------

    async def dashboard(self, user_id: UUID) -> Dashboard:
        """The caller's composed view: their projects, open tasks assigned to them,
        unread notifications and plan."""
        rows = await self._uow.rows(_dashboard_statement(self._uow.dialect), {"user_id": user_id})
        # (open_tasks, unread, plan, project_id, name): see `_dashboard_statement`
        open_tasks, unread, plan = rows[0][:3]
        return Dashboard(
            # The ids as the driver returned them, made UUIDs by msgspec, not per value in Python.
            projects=msgspec.convert([row[3:] for row in rows if row[3] is not None], _PROJECT_REFS),
            open_tasks_assigned=int(open_tasks or 0),
            unread_notifications=int(unread or 0),
            plan=plan if plan is not None else DEFAULT_PLAN,
        )


@functools.cache
def _dashboard_statement(dialect: str) -> Select[Any]:
    """One statement, built once per dialect: a row per project of the user (one row with no
    project when there is none), the three figures riding along as uncorrelated scalar
    subqueries. The project id comes back unprocessed (`plain`)."""
    user_id = bindparam("user_id", type_=MembershipModel.user_id.type)
    open_tasks = select(func.count()).where(
        TaskModel.assignee_id == user_id, TaskModel.status != DONE, TaskModel.deleted.is_(False)
    )
    unread = select(func.count()).where(
        NotificationModel.user_id == user_id, NotificationModel.read.is_(False)
    )
    plan = select(UserPlanModel.plan).where(UserPlanModel.user_id == user_id)
    head = select(
        open_tasks.scalar_subquery().label("open_tasks"),
        unread.scalar_subquery().label("unread"),
        plan.scalar_subquery().label("plan"),
    ).subquery("head")
    projects = (
        select(ProjectModel.project_id, ProjectModel.name)
        .join(MembershipModel, MembershipModel.project_id == ProjectModel.project_id)
        .where(MembershipModel.user_id == user_id, ProjectModel.deleted.is_(False))
        .subquery("projects")
    )
    project_id = plain(projects.c.project_id, dialect)
    return (
        select(head.c.open_tasks, head.c.unread, head.c.plan, project_id, projects.c.name)
        .select_from(head.outerjoin(projects, true()))
        .order_by(projects.c.name, projects.c.project_id)
    )


async def _join(session: AsyncSession, project_id: UUID, user_id: UUID) -> None:
    if await session.get(MembershipModel, (project_id, user_id)) is None:
        session.add(MembershipModel(project_id=project_id, user_id=user_id))


def provide_dashboard_service(module: ModuleRuntime) -> DashboardService:
    return DashboardService(module.uow)
