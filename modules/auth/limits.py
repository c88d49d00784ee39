"""Rate limits on the password endpoints (register and login), per process.

Both endpoints hash a password (argon2id: tens of milliseconds of CPU each) before
anyone is authenticated, so they are the cheapest way to burn this process's CPU.
Two fixed windows bound that work: one per client address (a minute), one for every
client together (a second). The limits protect the process's own CPU, so they live in
the process; the account lockout, which must hold across replicas, is in the database.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from weakref import WeakKeyDictionary

from cloudtaskhub.errors import TooManyRequests
from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["PasswordRateLimit", "provide_password_rate_limit"]

#: Clients remembered at most; past it, windows that ended are forgotten first, then the
#: oldest, so spoofing many addresses (impossible without a trusted proxy) cannot grow it.
_MAX_CLIENTS = 50_000


class PasswordRateLimit:
    def __init__(
        self, per_client_per_minute: int, per_second: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._per_client = per_client_per_minute
        self._per_second = per_second
        self._now = monotonic
        self._clients: dict[str, tuple[float, int]] = {}
        self._global: tuple[float, int] = (0.0, 0)

    def admit(self, client: str) -> None:
        """Count one password request from `client`; raises TooManyRequests over either limit."""
        now = self._now()
        started, count = self._global
        if now - started >= 1.0:
            started, count = now, 0
        if count >= self._per_second:
            raise TooManyRequests(retry_after=max(1, math.ceil(started + 1.0 - now)))
        window, used = self._clients.get(client, (now, 0))
        if now - window >= 60.0:
            window, used = now, 0
        if used >= self._per_client:
            raise TooManyRequests(retry_after=max(1, math.ceil(window + 60.0 - now)))
        self._global = (started, count + 1)
        self._clients[client] = (window, used + 1)
        if len(self._clients) > _MAX_CLIENTS:
            self._forget(now)

    def _forget(self, now: float) -> None:
        for key in [k for k, (window, _) in self._clients.items() if now - window >= 60.0]:
            del self._clients[key]
        while len(self._clients) > _MAX_CLIENTS:
            del self._clients[next(iter(self._clients))]


# One limit per running auth module (not per import): tests run many runtimes.
_limits: WeakKeyDictionary[ModuleRuntime, PasswordRateLimit] = WeakKeyDictionary()


def provide_password_rate_limit(module: ModuleRuntime) -> PasswordRateLimit:
    if module not in _limits:
        settings = module.settings
        _limits[module] = PasswordRateLimit(
            settings.password_requests_per_client_per_minute, settings.password_requests_per_second
        )
    return _limits[module]
