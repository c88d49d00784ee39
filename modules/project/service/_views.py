"""What the use cases return: plain values, detached from the session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

__all__ = ["MemberView", "PageOf", "ProjectView", "TaskView"]

T = TypeVar("T")


@dataclass(frozen=True)
class ProjectView:
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


@dataclass(frozen=True)
class TaskView:
    id: UUID
    project_id: UUID
    title: str
    description: str | None
    status: str
    priority: str
    assignee_id: UUID | None
    due_date: date | None
    labels: list[str]
    creator_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True)
class PageOf(Generic[T]):
    items: list[T]
    next_cursor: list[Any] | None
