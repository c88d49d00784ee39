"""Per-request / per-event context carried implicitly: the correlation id."""

from __future__ import annotations

from contextvars import ContextVar

__all__ = ["correlation_id"]

#: The id tying a request to every event it causes and every effect of those events.
correlation_id: ContextVar[str | None] = ContextVar("cloudtaskhub_correlation_id", default=None)
