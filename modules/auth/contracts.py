"""Events the auth module publishes: its only public surface."""

from __future__ import annotations

from uuid import UUID

from cloudtaskhub.events.contract import Event, event_type

__all__ = ["SessionEnded", "UserRegistered"]


class UserRegistered(Event, frozen=True):
    """A person created an account. `email` is stored lower-cased."""

    __event_type__ = event_type("auth", "user_registered", 1)
    __subject__ = "user_id"

    user_id: UUID
    email: str
    display_name: str


class SessionEnded(Event, frozen=True):
    """A login session ended before its access tokens expire: its refresh-token family was
    revoked, by a logout (`reason: logout`) or because a rotated refresh token was used
    again (`reason: refresh_reuse`). `session_id` is the `sid` claim of the session's
    access tokens; they stay valid until their `exp`, so whatever a module keeps open for
    them (a live stream) should end now."""

    __event_type__ = event_type("auth", "session_ended", 1)
    __subject__ = "user_id"

    user_id: UUID
    session_id: UUID
    reason: str
