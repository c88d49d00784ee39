"""The one projection code: how each consumed event changes the projection tables.

Live handling and `rebuild` both go through `project_event`, so a rebuilt
projection cannot disagree with the live one. Events of one aggregate arrive in
order (same key), events of different aggregates in any order; every change
here touches only its own aggregate's rows (or takes a max), so the result does
not depend on how events of different aggregates interleave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloudtaskhub.db.statements import DialectInsert, built_once, insert_ignoring, upsert_setting
from cloudtaskhub.events.contract import Event
from modules.analytics.models import (
    ActivityModel,
    CompletionModel,
    MemberModel,
    ProjectModel,
    TaskModel,
    UserModel,
)
from modules.auth.contracts import UserRegistered
from modules.billing.contracts import InvoiceIssued, SubscriptionChanged
from modules.notification.contracts import NotificationCreated, NotificationRead
from modules.project.contracts import (
    MemberAdded,
    MemberRemoved,
    ProjectCreated,
    ProjectDeleted,
    TaskAssigned,
    TaskCreated,
    TaskDeleted,
    TaskStatusChanged,
    TaskUnassigned,
)

__all__ = ["CONSUMED_EVENTS", "Occurrence", "contract_for", "project_event"]

DONE = "done"


@dataclass(frozen=True)
class Occurrence:
    """An event and the envelope facts the projections need."""

    event: Event
    event_id: UUID
    time: datetime


Projector = Callable[[AsyncSession, Any, Occurrence], Awaitable[None]]


async def _user_registered(session: AsyncSession, e: UserRegistered, o: Occurrence) -> None:
    if await session.get(UserModel, e.user_id) is None:
        session.add(UserModel(user_id=e.user_id, registered_at=o.time))


async def _project_created(session: AsyncSession, e: ProjectCreated, o: Occurrence) -> None:
    if await session.get(ProjectModel, e.project_id) is None:
        session.add(
            ProjectModel(project_id=e.project_id, owner_id=e.owner_id, name=e.name, created_at=o.time)
        )
    # The owner's membership is announced by ProjectCreated alone.
    await _add_member(session, e.project_id, e.owner_id, "owner")


async def _project_deleted(session: AsyncSession, e: ProjectDeleted, o: Occurrence) -> None:
    project = await session.get(ProjectModel, e.project_id)
    if project is None:
        project = ProjectModel(project_id=e.project_id, owner_id=e.owner_id, name=e.name, created_at=o.time)
        session.add(project)
    project.deleted_at = o.time
    await session.execute(delete(MemberModel).where(MemberModel.project_id == e.project_id))


async def _member_added(session: AsyncSession, e: MemberAdded, o: Occurrence) -> None:
    project = await session.get(ProjectModel, e.project_id)
    if project is None or project.deleted_at is None:
        await _add_member(session, e.project_id, e.user_id, e.role)


async def _member_removed(session: AsyncSession, e: MemberRemoved, o: Occurrence) -> None:
    member = await session.get(MemberModel, (e.project_id, e.user_id))
    if member is not None:
        await session.delete(member)


async def _add_member(session: AsyncSession, project_id: UUID, user_id: UUID, role: str) -> None:
    member = await session.get(MemberModel, (project_id, user_id))
    if member is None:
        session.add(MemberModel(project_id=project_id, user_id=user_id, role=role))
    else:
        member.role = role


# Task events are the hot path (every create, assignment and status change): each is a
# statement or two on the task's row, never an ORM object loaded and flushed, and Core
# statements on the tables (an ORM entity in an INSERT sends it down the ORM's bulk
# path: a tenth of a consumer's time per event). Rows may exist already (a later event
# of the task came first) or not; the upserts below give the same result either way,
# as `rebuild` replays them too.
_TASKS = TaskModel.__table__
_ACTIVITY = ActivityModel.__table__


async def _upsert_task(
    session: AsyncSession, task_id: UUID, project_id: UUID, changes: dict[str, Any]
) -> None:
    """Apply `changes` to the task's row, created empty (status todo) if this is the first we hear of it."""
    row = {"task_id": task_id, "project_id": project_id, "status": "todo", **changes}
    await session.execute(upsert_setting(session, _TASKS, _TASKS.c.task_id, changes), row)


async def _task_created(session: AsyncSession, e: TaskCreated, o: Occurrence) -> None:
    created = {"created_at": o.time, "created_day": o.time.date(), "due_date": e.due_date}
    done = e.status == DONE
    row = {
        "task_id": e.task_id,
        "project_id": e.project_id,
        "assignee_id": e.assignee_id,
        "status": e.status,
        # Created done: completed at creation, lead time 0.
        "done_at": o.time if done else None,
        "lead_time_seconds": 0.0 if done else None,
        **created,
    }
    inserted = await session.scalar(insert_ignoring(session, _TASKS, returning=_TASKS.c.task_id), row)
    if inserted is not None:
        if done:
            await _add_completion(session, e.task_id, e.project_id, e.creator_id, o)
        return
    # A later event (status, assignee) came first and has the last word on those;
    # the lead time counts from this creation.
    done_at = await session.scalar(
        update(TaskModel).where(TaskModel.task_id == e.task_id).values(created).returning(TaskModel.done_at)
    )
    if done_at is not None:
        await session.execute(
            update(TaskModel)
            .where(TaskModel.task_id == e.task_id)
            .values(lead_time_seconds=(done_at - o.time).total_seconds())
        )


async def _task_assigned(session: AsyncSession, e: TaskAssigned, o: Occurrence) -> None:
    await _upsert_task(session, e.task_id, e.project_id, {"assignee_id": e.assignee_id})


async def _task_unassigned(session: AsyncSession, e: TaskUnassigned, o: Occurrence) -> None:
    await _upsert_task(session, e.task_id, e.project_id, {"assignee_id": None})


async def _task_status_changed(session: AsyncSession, e: TaskStatusChanged, o: Occurrence) -> None:
    if e.new != DONE:
        changes: dict[str, Any] = {"status": e.new, "done_at": None, "lead_time_seconds": None}
        await _upsert_task(session, e.task_id, e.project_id, changes)
        return
    created_at = await session.scalar(select(TaskModel.created_at).where(TaskModel.task_id == e.task_id))
    lead = (o.time - created_at).total_seconds() if created_at is not None else None
    changes = {"status": DONE, "done_at": o.time, "lead_time_seconds": lead}
    await _upsert_task(session, e.task_id, e.project_id, changes)
    await _add_completion(session, e.task_id, e.project_id, e.changed_by, o)


async def _add_completion(
    session: AsyncSession, task_id: UUID, project_id: UUID, by: UUID, o: Occurrence
) -> None:
    await session.execute(
        insert(CompletionModel).values(
            event_id=o.event_id,
            task_id=task_id,
            project_id=project_id,
            user_id=by,
            completed_at=o.time,
            day=o.time.date(),
        )
    )


async def _task_deleted(session: AsyncSession, e: TaskDeleted, o: Occurrence) -> None:
    await _upsert_task(session, e.task_id, e.project_id, {"deleted_at": o.time})


async def _no_projection(session: AsyncSession, e: Event, o: Occurrence) -> None:
    """Logged and counted as activity only."""


_PROJECTORS: dict[type[Event], Projector] = {
    UserRegistered: _user_registered,
    ProjectCreated: _project_created,
    ProjectDeleted: _project_deleted,
    MemberAdded: _member_added,
    MemberRemoved: _member_removed,
    TaskCreated: _task_created,
    TaskAssigned: _task_assigned,
    TaskUnassigned: _task_unassigned,
    TaskStatusChanged: _task_status_changed,
    TaskDeleted: _task_deleted,
    SubscriptionChanged: _no_projection,
    InvoiceIssued: _no_projection,
    NotificationCreated: _no_projection,
    NotificationRead: _no_projection,
}

#: Every event type analytics subscribes to and logs.
CONSUMED_EVENTS: tuple[type[Event], ...] = tuple(_PROJECTORS)


def _actor(event: Event) -> UUID | None:
    """The user who did what the event records; None when the event does not say."""
    match event:
        case UserRegistered() | NotificationRead():
            return event.user_id
        case ProjectCreated() | ProjectDeleted():
            return event.owner_id
        case TaskCreated():
            return event.creator_id
        case TaskAssigned():
            return event.assigned_by
        case TaskUnassigned():
            return event.unassigned_by
        case TaskStatusChanged():
            return event.changed_by
        case InvoiceIssued():  # a paid plan is chosen by the user
            return event.user_id
    return None


async def _record_activity(session: AsyncSession, user_id: UUID, time: datetime) -> None:
    """The user's latest activity: kept when a later one is known already."""
    await session.execute(
        built_once(session, _ACTIVITY, "latest", _latest_activity),
        {"user_id": user_id, "last_event_at": time},
    )


def _latest_activity(insert: DialectInsert) -> Any:
    return insert.on_conflict_do_update(
        index_elements=[_ACTIVITY.c.user_id],
        set_={"last_event_at": insert.excluded.last_event_at},
        where=_ACTIVITY.c.last_event_at < insert.excluded.last_event_at,
    )


def contract_for(type_: str) -> type[Event] | None:
    """The contract class of a logged event type (None for a type no longer consumed)."""
    return next((c for c in CONSUMED_EVENTS if c.matches(type_)), None)


async def project_event(session: AsyncSession, occurrence: Occurrence) -> None:
    """Apply one event to every projection."""
    await _PROJECTORS[type(occurrence.event)](session, occurrence.event, occurrence)
    actor = _actor(occurrence.event)
    if actor is not None:
        await _record_activity(session, actor, occurrence.time)
    await session.flush()
