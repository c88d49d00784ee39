"""Notification's own configuration, read from `CTH_NOTIFICATION_*`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NotificationSettings"]


@dataclass(frozen=True, kw_only=True)
class NotificationSettings:
    #: Deliver webhooks to any address, not only public (global unicast) ones.
    webhook_allow_private: bool = False
    #: Networks (CIDR) allowed although not public, e.g. `127.0.0.1/32` in tests.
    webhook_allowed_networks: tuple[str, ...] = ()
    #: CA bundle (PEM) that HTTPS receivers are verified against; empty: certifi's.
    webhook_ca_file: str = ""
    #: Webhooks one user may register.
    webhook_max_per_user: int = 20
    #: Attempts per delivery, the first included, before it is marked failed.
    webhook_max_attempts: int = 5
    #: Delay before retry n is `base * 2**(n-1)` seconds.
    webhook_backoff_base_seconds: float = 2.0
    #: One attempt, DNS lookup to response status, ends after this long.
    webhook_timeout_seconds: float = 10.0
    #: How many deliveries run at once in one process.
    webhook_concurrency: int = 20
    #: Fallback poll for due deliveries (new ones wake the deliverer at once).
    webhook_poll_seconds: float = 1.0
    #: Comment line sent on idle SSE streams so proxies keep them open.
    sse_heartbeat_seconds: float = 15.0
    #: SSE streams also look for notifications made by other replicas this often (and
    #: whether another replica learnt that the stream's login session ended).
    sse_poll_seconds: float = 2.0
    #: Streams one user may hold open in one process; one more answers 429.
    sse_max_streams_per_user: int = 5
