"""Events the auth module publishes: its only public surface."""

from __future__ import annotations

from uuid import UUID

from cloudtaskhub.events.contract import Event, event_type

__all__ = ["UserRegistered"]


class UserRegistered(Event, frozen=True):
    """A person created an account. `email` is stored lower-cased."""

    __event_type__ = event_type("auth", "user_registered", 1)
    __subject__ = "user_id"

    user_id: UUID
    email: str
    display_name: str
