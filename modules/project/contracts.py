"""Events the project module publishes: its only public surface.

Every contract is version 1 of its type. Optional fields (with defaults) were
added for downstream read models so they need not ask the project module for
anything; consumers that do not know them ignore them.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from cloudtaskhub.events.contract import Event, event_type

__all__ = [
    "MemberAdded",
    "MemberRemoved",
    "ProjectCreated",
    "ProjectDeleted",
    "TaskAssigned",
    "TaskCreated",
    "TaskDeleted",
    "TaskStatusChanged",
    "TaskUnassigned",
]


class ProjectCreated(Event, frozen=True):
    """A user created a project and became its owner."""

    __event_type__ = event_type("project", "project_created", 1)
    __subject__ = "project_id"

    project_id: UUID
    owner_id: UUID
    name: str


class ProjectDeleted(Event, frozen=True):
    """The owner deleted a project.

    Published after a `TaskDeleted` for each of its tasks and a `MemberRemoved`
    for each of its members (the owner included), all in the same transaction.
    """

    __event_type__ = event_type("project", "project_deleted", 1)
    __subject__ = "project_id"

    project_id: UUID
    owner_id: UUID
    name: str


class MemberAdded(Event, frozen=True):
    """A user joined a project with `role` (`owner`, `admin` or `member`).

    The owner's own membership is announced by `ProjectCreated` only.
    """

    __event_type__ = event_type("project", "member_added", 1)
    __subject__ = "project_id"

    project_id: UUID
    user_id: UUID
    role: str


class MemberRemoved(Event, frozen=True):
    """A user left a project (removed by an owner/admin, or the project was deleted)."""

    __event_type__ = event_type("project", "member_removed", 1)
    __subject__ = "project_id"

    project_id: UUID
    user_id: UUID
    role: str


class TaskCreated(Event, frozen=True):
    """A member created a task. `priority` is `low|medium|high|urgent`."""

    __event_type__ = event_type("project", "task_created", 1)
    __subject__ = "task_id"

    task_id: UUID
    project_id: UUID
    creator_id: UUID
    title: str
    priority: str
    assignee_id: UUID | None
    due_date: date | None = None
    created_at: datetime | None = None
    status: str = "todo"
    labels: list[str] = []


class TaskAssigned(Event, frozen=True):
    """A task got a (new) assignee: at creation with an assignee, or on reassignment."""

    __event_type__ = event_type("project", "task_assigned", 1)
    __subject__ = "task_id"

    task_id: UUID
    project_id: UUID
    assignee_id: UUID
    assigned_by: UUID


class TaskUnassigned(Event, frozen=True):
    """A task lost its assignee: unassigned by an edit, or its assignee left the project."""

    __event_type__ = event_type("project", "task_unassigned", 1)
    __subject__ = "task_id"

    task_id: UUID
    project_id: UUID
    previous_assignee_id: UUID
    unassigned_by: UUID


class TaskStatusChanged(Event, frozen=True):
    """A task moved from `old` to `new` status (`todo|in_progress|done`).

    `creator_id` and `owner_id` (the project's owner) let consumers notify the
    people concerned without reading project tables.
    """

    __event_type__ = event_type("project", "task_status_changed", 1)
    __subject__ = "task_id"

    task_id: UUID
    project_id: UUID
    old: str
    new: str
    changed_by: UUID
    creator_id: UUID | None = None
    owner_id: UUID | None = None
    changed_at: datetime | None = None


class TaskDeleted(Event, frozen=True):
    """A task was deleted, on its own or with its project."""

    __event_type__ = event_type("project", "task_deleted", 1)
    __subject__ = "task_id"

    task_id: UUID
    project_id: UUID
    assignee_id: UUID | None = None
    status: str | None = None
