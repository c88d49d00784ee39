"""Tables owned by analytics: the append-only event log and the projections.

The log (`analytics_events`) is the source of truth; every other table here is a
projection that `rebuild` may drop and recompute from the log.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloudtaskhub.db import declarative_base_for

AnalyticsBase = declarative_base_for("analytics")

_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class EventLogModel(AnalyticsBase):
    """One event as received: never updated, never deleted."""

    __tablename__ = "analytics_events"
    __table_args__ = (Index("ix_analytics_events_replay_order", "time", "seq"),)

    #: Receipt order; breaks ties between events stamped with the same time.
    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=True)
    event_id: Mapped[UUID] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(50))
    subject: Mapped[str] = mapped_column(String(200))
    #: The publisher's clock when the event happened (the envelope `time`).
    time: Mapped[datetime]
    #: The event's `data`, as received (unknown fields kept).
    data: Mapped[str] = mapped_column(Text)


class UserModel(AnalyticsBase):
    """A registered user."""

    __tablename__ = "analytics_users"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    registered_at: Mapped[datetime]


class ActivityModel(AnalyticsBase):
    """When a user last did something (was the actor of an event)."""

    __tablename__ = "analytics_activity"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    last_event_at: Mapped[datetime] = mapped_column(index=True)


class ProjectModel(AnalyticsBase):
    """A project; kept with `deleted_at` once deleted so late events cannot revive it."""

    __tablename__ = "analytics_projects"

    project_id: Mapped[UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[UUID]
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class MemberModel(AnalyticsBase):
    """Who belongs to a project (the owner included): decides who sees its summary."""

    __tablename__ = "analytics_members"

    project_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20))


class TaskModel(AnalyticsBase):
    """A task's current state as far as the figures need it.

    Fields are nullable because a later event of the task may arrive first; the
    row then holds what is known and `TaskCreated` fills in the rest.
    """

    __tablename__ = "analytics_tasks"

    task_id: Mapped[UUID] = mapped_column(primary_key=True)
    project_id: Mapped[UUID] = mapped_column(index=True)
    assignee_id: Mapped[UUID | None] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[date | None]
    created_at: Mapped[datetime | None]
    created_day: Mapped[date | None]
    #: When it last moved to done; cleared when reopened.
    done_at: Mapped[datetime | None]
    lead_time_seconds: Mapped[float | None]
    deleted_at: Mapped[datetime | None]


class CompletionModel(AnalyticsBase):
    """One move of a task to done, by `user_id` (history: kept if the task is deleted)."""

    __tablename__ = "analytics_completions"

    event_id: Mapped[UUID] = mapped_column(primary_key=True)
    task_id: Mapped[UUID]
    project_id: Mapped[UUID] = mapped_column(index=True)
    user_id: Mapped[UUID] = mapped_column(index=True)
    completed_at: Mapped[datetime] = mapped_column(index=True)
    day: Mapped[date]


#: Every projection table, in the order `rebuild` empties them.
PROJECTIONS = (UserModel, ActivityModel, ProjectModel, MemberModel, TaskModel, CompletionModel)
