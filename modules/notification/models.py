"""Tables owned by notification: notifications, webhooks and their deliveries, and
the small project/task read models used to address and word notifications."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloudtaskhub.db import declarative_base_for

NotificationBase = declarative_base_for("notification")


class NotificationModel(NotificationBase):
    """One in-app notification. `id` is a UUIDv7, so id order is creation order."""

    __tablename__ = "notification_notifications"
    __table_args__ = (Index("ix_notification_notifications_user", "user_id", "id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID]
    kind: Mapped[str] = mapped_column(String(30))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    subject_id: Mapped[UUID]
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    #: The trace of the event that caused it, continued when it is pushed live.
    traceparent: Mapped[str | None] = mapped_column(String(100), default=None)


class ProjectModel(NotificationBase):
    __tablename__ = "notification_projects"

    project_id: Mapped[UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[UUID]
    name: Mapped[str] = mapped_column(String(200))


class TaskModel(NotificationBase):
    __tablename__ = "notification_tasks"

    task_id: Mapped[UUID] = mapped_column(primary_key=True)
    project_id: Mapped[UUID]
    creator_id: Mapped[UUID]
    title: Mapped[str] = mapped_column(String(500))


class WebhookModel(NotificationBase):
    """A user's webhook: `event_types` are notification kinds; `secret` signs deliveries."""

    __tablename__ = "notification_webhooks"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(index=True)
    url: Mapped[str] = mapped_column(String(2048))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class DeliveryModel(NotificationBase):
    """One event to send to one webhook; `status` is pending, delivered or failed.

    A worker holds a delivery while `leased_until` is in the future, so replicas
    never send the same delivery at the same time.
    """

    __tablename__ = "notification_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_notification_deliveries_once"),
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    webhook_id: Mapped[UUID]
    event_id: Mapped[UUID]
    event_type: Mapped[str] = mapped_column(String(200))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    leased_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AttemptModel(NotificationBase):
    """One HTTP attempt of a delivery, as listed by the deliveries endpoint."""

    __tablename__ = "notification_webhook_attempts"
    __table_args__ = (Index("ix_notification_attempts_webhook", "webhook_id", "id"),)

    id: Mapped[UUID] = mapped_column(primary_key=True)
    webhook_id: Mapped[UUID]
    delivery_id: Mapped[UUID]
    event_id: Mapped[UUID]
    attempt: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime]


class EndedSessionModel(NotificationBase):
    """A login session auth ended (logout, refresh reuse) while its access tokens may still
    be valid: streams opened with them close, and no new one opens. Kept only as long as
    such a token can live (CTH_ACCESS_TOKEN_TTL_SECONDS), then purged."""

    __tablename__ = "notification_ended_sessions"

    session_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID]
    ended_at: Mapped[datetime] = mapped_column(index=True)
