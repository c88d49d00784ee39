"""Prometheus exposition on a listener of its own (`CTH_METRICS_PORT`), never on the app's.

The public port is what the edge (Traefik) routes; whatever path tricks a proxy lets
through (`//metrics`, `/%6detrics`, `/api/../metrics`), the app there has no metrics
route to reach. Prometheus scrapes the metrics port directly, on the internal network.

The listener is prometheus-client's own server (a WSGI server in a daemon thread):
it answers even while the event loop is busy, and costs the request path nothing.
Gauges that are read from the database at scrape time (the outbox backlog) are
refreshed on the process's event loop before each exposition, with a time budget;
past it the scrape shows the last values rather than failing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric

__all__ = ["MetricsListener"]

log = logging.getLogger("cloudtaskhub.metrics")

#: How long a scrape waits for the scrape-time gauges (Prometheus' own timeout is 10 s).
REFRESH_BUDGET_SECONDS = 3.0


class _Refreshed:
    """Every metric of the default registry, after `refresh` ran on the app's loop."""

    def __init__(self, refresh: Callable[[], Awaitable[None]], loop: asyncio.AbstractEventLoop) -> None:
        self._refresh = refresh
        self._loop = loop

    def collect(self) -> Iterable[Metric]:
        # Runs in the listener's thread: the database is the loop's to use.
        future = asyncio.run_coroutine_threadsafe(self._refresh_once(), self._loop)
        try:
            future.result(timeout=REFRESH_BUDGET_SECONDS)
        except Exception as error:
            future.cancel()
            log.warning("scrape-time gauges not refreshed: %s: %s", type(error).__name__, error)
        yield from REGISTRY.collect()

    async def _refresh_once(self) -> None:
        await self._refresh()


class MetricsListener:
    """prometheus-client's HTTP server on `host:port`, until `close()`."""

    def __init__(self, server: Any, thread: Any) -> None:
        self._server = server
        self._thread = thread

    @classmethod
    def start(cls, host: str, port: int, refresh: Callable[[], Awaitable[None]]) -> MetricsListener:
        """Bind now (a taken port fails the start, naming it) and serve in a thread."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Refreshed(refresh, asyncio.get_running_loop()))
        try:
            server, thread = start_http_server(port, addr=host, registry=registry)
        except OSError as error:
            raise OSError(f"metrics listener on {host}:{port} (CTH_METRICS_PORT): {error}") from error
        log.info("metrics on http://%s:%d/metrics", host, server.server_port)
        return cls(server, thread)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    async def close(self) -> None:
        # shutdown() waits for the serving loop to notice (it polls every 0.5 s).
        await asyncio.to_thread(self._server.shutdown)
        self._server.server_close()
