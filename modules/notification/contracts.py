"""Events the notification module publishes: its only public surface."""

from __future__ import annotations

from uuid import UUID

from cloudtaskhub.events.contract import Event, event_type

__all__ = ["NotificationCreated", "NotificationRead"]


class NotificationCreated(Event, frozen=True):
    """An in-app notification for `user_id` was created (unread).

    `kind` is one of `task_assigned`, `task_done`, `member_added`,
    `invoice_issued`, `plan_changed`.
    """

    __event_type__ = event_type("notification", "notification_created", 1)
    __subject__ = "user_id"

    notification_id: UUID
    user_id: UUID
    kind: str | None = None


class NotificationRead(Event, frozen=True):
    """`user_id` read one notification. Marking all read emits one per notification."""

    __event_type__ = event_type("notification", "notification_read", 1)
    __subject__ = "user_id"

    notification_id: UUID
    user_id: UUID
