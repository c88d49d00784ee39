"""The running system inside one process: databases, bus, relays, consumers,
heartbeats and background tasks for the mounted modules.

The HTTP app (`cloudtaskhub.app.create_app`) and the CLI both build a Runtime,
so a CLI command sees exactly what a served process sees.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudtaskhub.clock import Clock, SystemClock
from cloudtaskhub.db import Databases, UnitOfWork
from cloudtaskhub.db.migrations import bootstrap_schema
from cloudtaskhub.events.bus import Bus
from cloudtaskhub.events.dispatcher import Dispatcher
from cloudtaskhub.events.heartbeat import process_id, publish_heartbeats
from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.events.relay import OutboxStatus, Relay, outbox_status
from cloudtaskhub.events.tables import EventTables
from cloudtaskhub.metrics import DEAD_LETTERS
from cloudtaskhub.module import Module
from cloudtaskhub.security import KeyStore, TokenVerifier
from cloudtaskhub.settings import Settings, load_settings
from cloudtaskhub.telemetry import MetricsListener, instrument_engines

__all__ = ["ModuleRuntime", "Runtime", "build_bus"]

log = logging.getLogger("cloudtaskhub.runtime")

#: How long shutdown waits for the bus (consumers finishing, producer flushing). An
#: unreachable broker must not hold the process: unsent outbox rows are sent and
#: uncommitted offsets redelivered after the next start, and inboxes absorb repeats.
BUS_STOP_GRACE_SECONDS = 10.0
#: How long `start` keeps trying to reach a database that is not there yet (a first
#: deploy starts the app and PostgreSQL together), as the Kafka bus does for the broker.
DATABASE_CONNECT_DEADLINE_SECONDS = 60.0


def build_bus(settings: Settings) -> Bus:
    if settings.bus == "kafka":
        from cloudtaskhub.events.kafka import KafkaBus

        return KafkaBus(settings)
    return InProcessBus(
        lanes=settings.bus_lanes,
        capacity=settings.bus_consumer_capacity,
        batch_max=settings.bus_consumer_batch_max,
    )


class ModuleRuntime:
    """One mounted module's share of the runtime: what its services are built from."""

    def __init__(self, module: Module, runtime: Runtime) -> None:
        self.module = module
        self.name = module.name
        self.runtime = runtime
        self.settings = runtime.settings
        self.clock = runtime.clock
        self.database_url = runtime.settings.database_url_for(module.name)
        self.engine: AsyncEngine = runtime.databases.engine(self.database_url)
        self.tables: EventTables = module.tables
        self.relay: Relay | None = None
        self.uow = UnitOfWork(
            module.name,
            runtime.databases.sessionmaker(self.database_url),
            self.tables,
            runtime.clock,
            on_commit=self._wake_relay,
            loop_reader=runtime.databases.loop_reader(self.database_url),
            pg_reader=runtime.databases.pg_reader(self.database_url),
        )
        self.config: Any = (
            load_settings(module.settings, prefix=f"CTH_{module.name.upper()}_", environ=runtime.environ)
            if module.settings is not None
            else None
        )
        self.dispatcher = (
            Dispatcher(self, module.subscriptions, runtime.bus) if module.subscriptions else None
        )

    def _wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    @property
    def verifier(self) -> TokenVerifier:
        return self.runtime.verifier

    @property
    def keys(self) -> KeyStore:
        return self.runtime.keys

    async def outbox_status(self) -> OutboxStatus:
        return await outbox_status(self)

    async def dead_letter_count(self) -> int:
        table = self.tables.dead_letters
        async with self.uow.read() as session:
            count = await session.scalar(
                select(func.count()).select_from(table).where(table.c.replayed_at.is_(None))
            )
        DEAD_LETTERS.labels(self.name).set(int(count or 0))
        return int(count or 0)

    async def check_database(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def wait_for_database(self, deadline_seconds: float = DATABASE_CONNECT_DEADLINE_SECONDS) -> None:
        """Connect, retrying while the server is unreachable or still starting; any other
        error (a wrong password, a missing database) fails at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_seconds
        delay = 0.2
        while True:
            try:
                await self.check_database()
                return
            except Exception as error:
                if not _database_not_there_yet(error) or loop.time() + delay > deadline:
                    raise
                log.warning(
                    "database of %s not reachable yet (%s: %s); retrying in %.1fs",
                    self.name,
                    type(error).__name__,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


class Runtime:
    def __init__(
        self,
        modules: Sequence[Module],
        settings: Settings,
        *,
        clock: Clock | None = None,
        bus: Bus | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        import os

        self.settings = settings
        self.environ = dict(os.environ) if environ is None else environ
        self.clock: Clock = clock or SystemClock()
        self.bus: Bus = bus or build_bus(settings)
        self.process = process_id(settings.process_name)
        self.databases = Databases(
            pool_size=settings.db_pool_size, sqlite_cache_kib=settings.sqlite_cache_kib
        )
        self.keys = KeyStore.from_settings(settings)
        self.verifier = TokenVerifier(self.keys, settings)
        self.modules: dict[str, ModuleRuntime] = {}
        for module in modules:
            if module.name in self.modules:
                raise ValueError(f"module {module.name} mounted twice")
            self.modules[module.name] = ModuleRuntime(module, self)
        self._tasks: list[asyncio.Task[None]] = []
        self._on_stop_requested: list[Callable[[], None]] = []
        self.stop_requested = False
        #: SIGTERM arrived and the process serves on for `shutdown_drain_seconds`.
        self.draining = False
        self.started = False
        #: Prometheus exposition (`CTH_METRICS_PORT`), while started.
        self.metrics: MetricsListener | None = None

    def module(self, name: str) -> ModuleRuntime:
        return self.modules[name]

    @property
    def mode(self) -> str:
        return "all-in-one" if len(self.modules) > 1 else "split"

    async def prepare(self) -> None:
        """Make every mounted module's schema current (as `CTH_DB_BOOTSTRAP` says)."""
        for module in self.modules.values():
            await module.wait_for_database()
            await bootstrap_schema(module.module, module.engine, self.settings.db_bootstrap)

    async def start(self, *, background: bool = True) -> None:
        if self.settings.metrics_port:
            # First: a port already taken stops the start before anything else runs.
            self.metrics = MetricsListener.start(
                self.settings.metrics_host, self.settings.metrics_port, self._refresh_scrape_gauges
            )
        await self.prepare()
        await self.databases.open_connections(self.settings.db_connections_at_start)
        instrument_engines([*self.databases.engines, *(r.engine for r in self.databases.loop_readers)])
        consumers = [m.dispatcher for m in self.modules.values() if m.dispatcher is not None]
        await self.bus.start(consumers, list(self.modules))
        for module in self.modules.values():
            module.relay = Relay(module, self.bus)
            self._spawn(module.relay.run(), f"relay:{module.name}")
        if background:
            self._spawn(publish_heartbeats(self), "heartbeats")
            for module in self.modules.values():
                for task in module.module.background_tasks:
                    self._spawn(task.run(module), f"{module.name}:{task.name}")
        self.started = True

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(_log_crash)
        self._tasks.append(task)

    async def drain(self) -> None:
        """Deliver every pending outbox row and wait for its handlers (tests, CLI)."""
        for _ in range(50):
            for module in self.modules.values():
                if module.relay is not None:
                    await module.relay.drain()
            statuses = [await m.outbox_status() for m in self.modules.values()]
            if all(s.pending == 0 for s in statuses):
                return

    def on_stop_requested(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the process is asked to stop, e.g. to end open streams.

        The HTTP server drains open connections before the app's shutdown runs, so a
        response that never ends (Server-Sent Events) must end on this signal instead.
        """
        if self.stop_requested:
            callback()
        else:
            self._on_stop_requested.append(callback)

    def start_draining(self) -> None:
        """SIGTERM with a drain period: readiness answers 503 while requests are still served."""
        if not self.draining:
            self.draining = True
            log.info(
                "stopping in %.0fs: serving on while the edge stops routing here",
                self.settings.shutdown_drain_seconds,
            )

    def request_stop(self) -> None:
        """The process was told to stop (SIGTERM): run the `on_stop_requested` callbacks once."""
        if self.stop_requested:
            return
        self.stop_requested = True
        callbacks, self._on_stop_requested = self._on_stop_requested, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("stop callback %r failed", callback)

    async def _refresh_scrape_gauges(self) -> None:
        for module in self.modules.values():
            await module.outbox_status()  # sets the backlog gauges

    async def stop(self) -> None:
        self.request_stop()
        if self.metrics is not None:
            await self.metrics.close()
            self.metrics = None
        for module in self.modules.values():
            if module.relay is not None:
                module.relay.stop()
        try:
            await asyncio.wait_for(self.bus.stop(), timeout=BUS_STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning(
                "the bus did not stop within %.0fs (broker unreachable?); pending outbox rows "
                "are sent and unacknowledged events redelivered after the next start",
                BUS_STOP_GRACE_SECONDS,
            )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.databases.dispose()
        self.started = False


def _database_not_there_yet(error: BaseException) -> bool:
    """The server cannot be reached (no DNS name yet, connection refused or reset) or is
    still starting up; walks the causes that SQLAlchemy and asyncpg wrap."""
    from asyncpg.exceptions import CannotConnectNowError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | CannotConnectNowError):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else (current.__cause__ or current.__context__)
    return False


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background task %s crashed", task.get_name(), exc_info=task.exception())
