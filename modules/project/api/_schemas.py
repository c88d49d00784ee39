"""Request and response bodies of the project API (see shared/API.md)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType
from msgspec.structs import astuple

from modules.project.service import MemberView, ProjectView, TaskView

__all__ = [
    "LINE",
    "TEXT",
    "Member",
    "MemberAdd",
    "Priority",
    "Project",
    "ProjectCreate",
    "ProjectUpdate",
    "Sort",
    "Status",
    "Task",
    "TaskCreate",
    "TaskUpdate",
]

#: Text without NUL characters (PostgreSQL cannot store them) and not blank.
TEXT = r"^[^\x00]*$"
LINE = r"^[^\x00]*[^\x00\s][^\x00]*$"

Name = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=LINE, description="1–200 characters")
]
Title = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=LINE, description="1–200 characters")
]
Description = Annotated[str, msgspec.Meta(max_length=10_000, pattern=TEXT)]
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$")
]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=LINE, description="1–50 characters")]
Labels = Annotated[list[Label], msgspec.Meta(max_length=20, description="At most 20 labels")]
Priority = Literal["low", "medium", "high", "urgent"]
Status = Literal["todo", "in_progress", "done"]
Role = Literal["member", "admin"]
Sort = Literal["created_at", "-created_at", "due_date", "priority"]


class ProjectCreate(msgspec.Struct):
    name: Name
    description: Description | None = None


class ProjectUpdate(msgspec.Struct):
    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET


class Project(msgspec.Struct):
    id: UUID
    name: str
    description: str | None
    owner_id: UUID
    #: The caller's role: owner, admin or member.
    role: str
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, view: ProjectView) -> Project:
        return cls(
            id=view.id,
            name=view.name,
            description=view.description,
            owner_id=view.owner_id,
            role=view.role,
            created_at=view.created_at,
            updated_at=view.updated_at,
            version=view.version,
        )


class MemberAdd(msgspec.Struct):
    email: Email
    role: Role = "member"


class Member(msgspec.Struct):
    project_id: UUID
    user_id: UUID
    role: str
    email: str | None
    display_name: str | None
    added_at: datetime

    @classmethod
    def of(cls, view: MemberView) -> Member:
        return cls(
            project_id=view.project_id,
            user_id=view.user_id,
            role=view.role,
            email=view.email,
            display_name=view.display_name,
            added_at=view.added_at,
        )


class TaskCreate(msgspec.Struct):
    title: Title
    description: Description | None = None
    priority: Priority = "medium"
    due_date: date | None = None
    assignee_id: UUID | None = None
    labels: Labels = msgspec.field(default_factory=list)


class TaskUpdate(msgspec.Struct):
    title: Title | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET
    status: Status | UnsetType = UNSET
    priority: Priority | UnsetType = UNSET
    assignee_id: UUID | UnsetType | None = UNSET
    due_date: date | UnsetType | None = UNSET
    labels: Labels | UnsetType = UNSET


class Task(msgspec.Struct):
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

    @classmethod
    def of(cls, view: TaskView) -> Task:
        # Positionally, in C: the fields are `TaskView`'s, in its order (checked below).
        return cls(*astuple(view))


if Task.__struct_fields__ != TaskView.__struct_fields__:
    raise TypeError("Task.of builds a Task from a TaskView's fields in order: keep both in step")
