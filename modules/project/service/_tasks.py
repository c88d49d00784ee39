"""Task use cases: create, read, change, delete, and the filtered, keyset-paginated list."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy import (
    JSON,
    ColumnElement,
    Integer,
    Select,
    Text,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.types import NullType

from cloudtaskhub.clock import Clock, new_id
from cloudtaskhub.db import UnitOfWork, plain
from cloudtaskhub.db.statements import insert_into
from cloudtaskhub.events.contract import Event
from cloudtaskhub.runtime import ModuleRuntime
from modules.project.contracts import (
    TaskAssigned,
    TaskCreated,
    TaskDeleted,
    TaskStatusChanged,
    TaskUnassigned,
)
from modules.project.errors import AssigneeNotMember, ProjectNotFound, StaleTask, TaskNotFound
from modules.project.models import MemberModel, ProjectModel, TaskLabelModel, TaskModel
from modules.project.service._access import owner_for_member
from modules.project.service._keyset import Ordering, decode_position, moment
from modules.project.service._quota import count_task_creation
from modules.project.service._views import PageOf, TaskView

__all__ = [
    "PRIORITY_RANK",
    "SORTS",
    "TaskChanges",
    "TaskDraft",
    "TaskFilter",
    "TaskService",
    "provide_task_service",
]

#: Higher ranks sort first in `sort=priority`.
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3, "urgent": 4}


@dataclass(frozen=True)
class TaskDraft:
    title: str
    description: str | None = None
    priority: str = "medium"
    due_date: date | None = None
    assignee_id: UUID | None = None
    labels: Sequence[str] = ()


@dataclass(frozen=True)
class TaskChanges:
    """Only the fields that are not UNSET change; None clears a nullable field."""

    title: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    status: str | UnsetType = UNSET
    priority: str | UnsetType = UNSET
    assignee_id: UUID | UnsetType | None = UNSET
    due_date: date | UnsetType | None = UNSET
    labels: Sequence[str] | UnsetType = UNSET


@dataclass(frozen=True)
class TaskFilter:
    status: str | None = None
    assignee_id: UUID | None = None
    priority: str | None = None
    label: str | None = None
    #: Case-insensitive substring of the title; LIKE wildcards in it match literally.
    q: str | None = None
    sort: str = "created_at"


def _int_key(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value not in PRIORITY_RANK.values():
        raise TypeError("not a priority rank")
    return value


def _date_key(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


#: sort parameter → (ordering, cursor key encoder, cursor key decoder)
_ORDERINGS: dict[str, tuple[Ordering, Callable[[TaskView], Any], Callable[[Any], Any]]] = {
    "created_at": (
        Ordering("tasks:created_at", TaskModel.created_at, TaskModel.id),
        lambda t: t.created_at.isoformat(),
        moment,
    ),
    "-created_at": (
        Ordering(
            "tasks:-created_at", TaskModel.created_at, TaskModel.id, key_descending=True, id_descending=True
        ),
        lambda t: t.created_at.isoformat(),
        moment,
    ),
    "due_date": (
        Ordering("tasks:due_date", TaskModel.due_date, TaskModel.id, nulls_last=True),
        lambda t: _iso(t.due_date),
        _date_key,
    ),
    "priority": (
        Ordering("tasks:priority", TaskModel.priority_rank, TaskModel.id, key_descending=True),
        lambda t: PRIORITY_RANK[t.priority],
        _int_key,
    ),
}

SORTS = tuple(_ORDERINGS)


def _unique(labels: Sequence[str]) -> list[str]:
    """Labels without duplicates, in the order given."""
    return list(dict.fromkeys(label.strip() for label in labels))


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _view(task: TaskModel, labels: list[str]) -> TaskView:
    return TaskView(
        id=task.id,
        project_id=task.project_id,
        title=task.title,
        description=task.description,
        status=task.status,
        priority=task.priority,
        assignee_id=task.assignee_id,
        due_date=task.due_date,
        labels=labels,
        creator_id=task.creator_id,
        created_at=task.created_at,
        updated_at=task.updated_at,
        version=task.version,
    )


#: The columns of a task row, in `TaskView` order (the labels as `labels_json`).
_TASK_COLUMNS = (
    TaskModel.id,
    TaskModel.project_id,
    TaskModel.title,
    TaskModel.description,
    TaskModel.status,
    TaskModel.priority,
    TaskModel.assignee_id,
    TaskModel.due_date,
    TaskModel.labels_json,
    TaskModel.creator_id,
    TaskModel.created_at,
    TaskModel.updated_at,
    TaskModel.version,
)


def _task_columns(dialect: str) -> list[ColumnElement[Any]]:
    """The task's columns as the driver returns them: msgspec converts them (`_row_views`)."""
    return [plain(column, dialect) for column in _TASK_COLUMNS]


_LABELS = msgspec.json.Decoder(list[str])


_TASK_VIEWS = list[TaskView]
_PAGE = msgspec.json.Decoder(_TASK_VIEWS)


def _row_views(rows: Sequence[Sequence[Any]]) -> list[TaskView]:
    """Views of rows of `_task_columns`, converted by msgspec in one call."""
    decode = _LABELS.decode
    return msgspec.convert([(*row[:8], decode(row[8]), *row[9:]) for row in rows], _TASK_VIEWS)


def _page_views(rows: Sequence[Sequence[Any]]) -> list[TaskView]:
    """Views of the one row of `_json_page`: a JSON array of task arrays, or NULL for none."""
    page = rows[0][0] if rows else None
    return [] if page is None else _PAGE.decode(page)


def _json_page(page: Select[Any], ordering: Ordering) -> Select[Any]:
    """PostgreSQL: `page`'s rows as one JSON text, `[[id, project_id, ...], ...]` in `TaskView` order.

    asyncpg then decodes one text value instead of 13 typed columns per row, and msgspec
    decodes the page into views in one C call (0.28 against 0.33-0.41 ms of client CPU for a
    20-task page, `bench/optimizations.json`): the server builds the JSON. Timestamps are
    written in UTC with a `Z` whatever the session's time zone; labels go in as JSON.
    """
    numbered = page.add_columns(func.row_number().over(order_by=ordering.order_by()).label("ord"))
    rows = numbered.subquery("page")
    values = [
        _utc_text(rows.c[name])
        if name in ("created_at", "updated_at")
        else cast(rows.c[name], JSON)
        if name == "labels_json"
        else rows.c[name]
        for name in (column.key for column in _TASK_COLUMNS)
    ]
    aggregated = func.json_agg(aggregate_order_by(func.json_build_array(*values), rows.c.ord))
    return select(type_coerce(cast(aggregated, Text), NullType()))


def _utc_text(column: Any) -> ColumnElement[Any]:
    utc = func.timezone(literal_column("'UTC'"), column)
    return func.to_char(utc, literal_column('\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''))


def _insert_labels(task_id: UUID, labels: Sequence[str]) -> Any:
    """A task's label rows in one statement (not executemany): PostgreSQL's statement
    trigger then sets the task's `labels_json` once, not once per label."""
    rows = [{"task_id": task_id, "label": label, "position": n} for n, label in enumerate(labels)]
    return insert(TaskLabelModel.__table__).values(rows)


async def _is_member(session: AsyncSession, project_id: UUID, user_id: UUID) -> bool:
    return await session.scalar(_MEMBERSHIP, {"project_id": project_id, "caller": user_id}) is not None


async def _load_task(session: AsyncSession, task_id: UUID, caller: UUID) -> TaskModel:
    """The task, if the caller is a member of its project; else TaskNotFound."""
    task: TaskModel | None = await session.scalar(
        select(TaskModel)
        .join(MemberModel, MemberModel.project_id == TaskModel.project_id)
        .where(TaskModel.id == task_id, MemberModel.user_id == caller)
    )
    if task is None:
        raise TaskNotFound()
    return task


class TaskService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def create_task(self, caller: UUID, project_id: UUID, draft: TaskDraft) -> TaskView:
        """Create a task in a project the caller belongs to.

        Publishes TaskCreated, and TaskAssigned when it starts with an assignee.
        Raises ProjectNotFound, AssigneeNotMember, and TaskLimitReached when the
        project owner's plan allows no more tasks this billing period.
        """
        async with self._uow.transaction() as tx:
            session = tx.session
            owner_id = await owner_for_member(session, project_id, caller)
            if draft.assignee_id is not None and not await _is_member(session, project_id, draft.assignee_id):
                raise AssigneeNotMember()
            now = self._clock.now()
            labels = _unique(draft.labels)
            task = TaskView(
                id=new_id(),
                project_id=project_id,
                title=draft.title.strip(),
                description=draft.description,
                status="todo",
                priority=draft.priority,
                assignee_id=draft.assignee_id,
                due_date=draft.due_date,
                labels=labels,
                creator_id=caller,
                created_at=now,
                updated_at=now,
                version=1,
            )
            # Core inserts: a new row needs none of the ORM's unit of work (identity map,
            # change tracking, a flush per dependency level).
            await session.execute(
                insert_into(TaskModel),
                {
                    "id": task.id,
                    "project_id": project_id,
                    "title": task.title,
                    "description": task.description,
                    "status": task.status,
                    "priority": task.priority,
                    "priority_rank": PRIORITY_RANK[task.priority],
                    "assignee_id": task.assignee_id,
                    "due_date": task.due_date,
                    "creator_id": caller,
                    "created_at": now,
                    "updated_at": now,
                    "version": task.version,
                },
            )
            if labels:
                await session.execute(_insert_labels(task.id, labels))
            await tx.record(
                TaskCreated(
                    task_id=task.id,
                    project_id=project_id,
                    creator_id=caller,
                    title=task.title,
                    priority=task.priority,
                    assignee_id=task.assignee_id,
                    due_date=task.due_date,
                    created_at=now,
                    status=task.status,
                    labels=labels,
                )
            )
            if task.assignee_id is not None:
                await tx.record(
                    TaskAssigned(
                        task_id=task.id,
                        project_id=project_id,
                        assignee_id=task.assignee_id,
                        assigned_by=caller,
                    )
                )
            # Last, so the owner's counter row stays locked (PostgreSQL) only until the
            # commit; refused, it rolls the task and its events back with it.
            await count_task_creation(session, owner_id)
            return task

    async def get_task(self, caller: UUID, task_id: UUID) -> TaskView:
        """Raises TaskNotFound, also when the caller is no member of the task's project.

        One statement: the task, joined to the caller's membership, with its labels.
        """
        rows = await self._uow.rows(_get_statement(self._uow.dialect), {"task_id": task_id, "caller": caller})
        if not rows:
            raise TaskNotFound()
        return _row_views(rows)[0]

    async def update_task(
        self, caller: UUID, task_id: UUID, changes: TaskChanges, *, expected_version: int | None = None
    ) -> TaskView:
        """Change a task's fields; any member may.

        Publishes TaskStatusChanged when the status changes and TaskAssigned when a
        (new) assignee is set, TaskUnassigned when the assignee is cleared.
        Raises TaskNotFound, StaleTask (If-Match not current), AssigneeNotMember.
        """
        try:
            async with self._uow.transaction() as tx:
                return await self._update(tx, caller, task_id, changes, expected_version)
        except StaleDataError:  # another writer committed between our read and our update
            raise await self._stale(task_id) from None

    async def _stale(self, task_id: UUID) -> StaleTask:
        async with self._uow.read() as session:
            current = await session.scalar(select(TaskModel.version).where(TaskModel.id == task_id))
        return StaleTask(current=current)

    async def _update(
        self, tx: Any, caller: UUID, task_id: UUID, changes: TaskChanges, expected_version: int | None
    ) -> TaskView:
        session: AsyncSession = tx.session
        task = await _load_task(session, task_id, caller)
        labels = _LABELS.decode(task.labels_json)
        if expected_version is not None and expected_version != task.version:
            raise StaleTask(current=task.version)
        events: list[Event] = []
        changed = False
        old_status = task.status
        now = self._clock.now()

        # One flush, so one UPDATE and one version: the lookups below need none of the
        # task's pending changes, and each autoflush before them would bump the version.
        with session.no_autoflush:
            if changes.title is not UNSET and changes.title.strip() != task.title:
                task.title, changed = changes.title.strip(), True
            if changes.description is not UNSET and changes.description != task.description:
                task.description, changed = changes.description, True
            if changes.priority is not UNSET and changes.priority != task.priority:
                task.priority, task.priority_rank = changes.priority, PRIORITY_RANK[changes.priority]
                changed = True
            if changes.due_date is not UNSET and changes.due_date != task.due_date:
                task.due_date, changed = changes.due_date, True
            if changes.assignee_id is not UNSET and changes.assignee_id != task.assignee_id:
                if changes.assignee_id is not None:
                    if not await _is_member(session, task.project_id, changes.assignee_id):
                        raise AssigneeNotMember()
                    events.append(
                        TaskAssigned(
                            task_id=task.id,
                            project_id=task.project_id,
                            assignee_id=changes.assignee_id,
                            assigned_by=caller,
                        )
                    )
                elif task.assignee_id is not None:
                    events.append(
                        TaskUnassigned(
                            task_id=task.id,
                            project_id=task.project_id,
                            previous_assignee_id=task.assignee_id,
                            unassigned_by=caller,
                        )
                    )
                task.assignee_id, changed = changes.assignee_id, True
            if changes.status is not UNSET and changes.status != task.status:
                task.status, changed = changes.status, True
                owner_id = await session.scalar(
                    select(ProjectModel.owner_id).where(ProjectModel.id == task.project_id)
                )
                events.append(
                    TaskStatusChanged(
                        task_id=task.id,
                        project_id=task.project_id,
                        old=old_status,
                        new=changes.status,
                        changed_by=caller,
                        creator_id=task.creator_id,
                        owner_id=owner_id,
                        changed_at=now,
                    )
                )
            if changes.labels is not UNSET and _unique(changes.labels) != labels:
                labels = _unique(changes.labels)
                await session.execute(delete(TaskLabelModel).where(TaskLabelModel.task_id == task.id))
                if labels:
                    await session.execute(_insert_labels(task.id, labels))
                changed = True

        if changed:
            task.updated_at = now
            await session.flush()
        for event in events:
            await tx.record(event)
        return _view(task, labels)

    async def delete_task(self, caller: UUID, task_id: UUID, *, expected_version: int | None = None) -> None:
        """Delete a task; any member may. Publishes TaskDeleted. Raises TaskNotFound, StaleTask."""
        try:
            async with self._uow.transaction() as tx:
                task = await _load_task(tx.session, task_id, caller)
                if expected_version is not None and expected_version != task.version:
                    raise StaleTask(current=task.version)
                event = TaskDeleted(
                    task_id=task.id,
                    project_id=task.project_id,
                    assignee_id=task.assignee_id,
                    status=task.status,
                )
                await tx.session.delete(task)  # its labels go with it (ON DELETE CASCADE)
                await tx.session.flush()
                await tx.record(event)
        except StaleDataError:
            raise await self._stale(task_id) from None

    async def list_tasks(
        self, caller: UUID, project_id: UUID, where: TaskFilter, limit: int, position: list[Any] | None
    ) -> PageOf[TaskView]:
        """One page of a project's tasks, filtered and sorted; raises ProjectNotFound, UnknownCursor.

        One statement: the page with its labels, only if the caller is a member.
        """
        ordering, encode_key, decode_key = _ORDERINGS[where.sort]
        after = decode_position(position, ordering.name, decode_key)
        parameters: dict[str, Any] = {
            "project_id": project_id,
            "caller": caller,
            "limit": limit + 1,
            "status": where.status,
            "priority": where.priority,
            "assignee_id": where.assignee_id,
            "label": where.label,
            "q": _contains(where.q) if where.q else None,
        }
        if after is not None:
            parameters["after_key"], parameters["after_id"] = after
        statement = _list_statement(
            self._uow.dialect,
            where.sort,
            where.status is not None,
            where.priority is not None,
            where.assignee_id is not None,
            where.label is not None,
            bool(where.q),
            None if after is None else after[0] is None,
        )
        # A title search scans the project's tasks: its cost is not bounded by the page.
        rows = await self._uow.rows(statement, parameters, short=not where.q)
        views = _page_views(rows) if self._uow.dialect == "postgresql" else _row_views(rows)
        # No task: none there, or no member. Only then is the membership asked on its own.
        if not views and not await self._uow.rows(_MEMBERSHIP, {"project_id": project_id, "caller": caller}):
            raise ProjectNotFound()
        items = views[:limit]
        cursor = None
        if len(views) > limit:
            cursor = [ordering.name, encode_key(items[-1]), str(items[-1].id)]
        return PageOf(items, cursor)


_MEMBERS = MemberModel.__table__
#: On the table, not the mapped class: a Core statement, run without the ORM's compile state.
_MEMBERSHIP = select(_MEMBERS.c.role).where(
    _MEMBERS.c.project_id == bindparam("project_id"), _MEMBERS.c.user_id == bindparam("caller")
)


@functools.cache
def _get_statement(dialect: str) -> Select[Any]:
    """One task with its labels, joined to the caller's membership (built once per dialect)."""
    return (
        select(*_task_columns(dialect))
        .join(MemberModel, MemberModel.project_id == TaskModel.project_id)
        .where(TaskModel.id == bindparam("task_id"), MemberModel.user_id == bindparam("caller"))
    )


@functools.lru_cache(maxsize=512)
def _list_statement(
    dialect: str,
    sort: str,
    status: bool,
    priority: bool,
    assignee: bool,
    label: bool,
    q: bool,
    after_null_key: bool | None,
) -> Select[Any]:
    """The page statement for one shape of request, built once; values are bound per call.

    `after_null_key`: None on a first page, else whether the cursor's sort key is NULL
    (a NULL due date continues differently).
    """
    ordering = _ORDERINGS[sort][0]
    query = select(*_task_columns(dialect)).where(
        TaskModel.project_id == bindparam("project_id"),
        exists().where(
            MemberModel.project_id == bindparam("project_id"), MemberModel.user_id == bindparam("caller")
        ),
    )
    if status:
        query = query.where(TaskModel.status == bindparam("status"))
    if priority:
        query = query.where(TaskModel.priority == bindparam("priority"))
    if assignee:
        query = query.where(TaskModel.assignee_id == bindparam("assignee_id"))
    if label:
        query = query.where(
            exists().where(TaskLabelModel.task_id == TaskModel.id, TaskLabelModel.label == bindparam("label"))
        )
    if q:
        query = query.where(TaskModel.title.ilike(bindparam("q"), escape="\\"))
    if after_null_key is not None:
        key = None if after_null_key else bindparam("after_key", type_=ordering.key.type)
        query = query.where(ordering.after(key, bindparam("after_id", type_=TaskModel.id.type)))
    page = query.order_by(*ordering.order_by()).limit(bindparam("limit", type_=Integer))
    return _json_page(page, ordering) if dialect == "postgresql" else page


def provide_task_service(module: ModuleRuntime) -> TaskService:
    return TaskService(module.uow, module.clock)
