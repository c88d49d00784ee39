"""What the use cases return: plain values, detached from the session.

`ProjectView` and `TaskView` are array-like msgspec structs: a hot read builds them
from its rows with one `msgspec.convert`, which turns the driver's values (bytes or
text for UUIDs, text for SQLite's timestamps, see `cloudtaskhub.db.rows`) into the
fields' types in C. Their field order is the order of the columns those reads select;
`TaskView`'s is also the API's `Task`'s, which is built from it positionally.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec

__all__ = ["MemberView", "PageOf", "ProjectView", "TaskView"]

T = TypeVar("T")


class ProjectView(msgspec.Struct, frozen=True, array_like=True):
    id: UUID
    name: str
    description: str | None
    owner_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int
    #: The caller's role in the project.
    role: str


@dataclass(frozen=True)
class MemberView:
    project_id: UUID
    user_id: UUID
    role: str
    added_at: datetime
    #: None when the user's registration has not reached this module yet.
    email: str | None
    display_name: str | None


class TaskView(msgspec.Struct, frozen=True, array_like=True):
    id: UUID
    project_id: UUID
    title: str
    description: str | None
    status: str
    priority: str
    assignee_id: UUID | None
    due_date: date | None
    #: Selected as `labels_json`, decoded before the conversion.
    labels: list[str]
    creator_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class PageOf(Generic[T]):
    items: list[T]
    next_cursor: list[Any] | None
