"""Module test harness: boot modules on the in-process bus and an empty database,
feed them events, drive their HTTP API, and expect the events they publish.

    async with ModuleHarness([notification], database_url=url) as h:
        alice = h.user("alice@example.com")
        await h.publish(TaskAssigned(task_id=t, project_id=p, assignee_id=alice.id, assigned_by=b))
        page = await h.get("/api/v1/notifications", user=alice)
        assert page.json()["items"][0]["subject_id"] == str(t)

Everything is deterministic: `publish` returns once every consumer settled the
event, and `settle()` delivers all pending outbox rows and waits for their handlers.

A handler that raises, or an event that is dead-lettered, fails the test when the
harness exits, unless the test declared it (`expect_handler_failure`,
`expect_dead_letter`): a test asserting that "nothing happened" must not pass
because a handler crashed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

import httpx
import jwt
import msgspec
from sqlalchemy import event as sa_event
from sqlalchemy.util import await_

from cloudtaskhub.app import create_app
from cloudtaskhub.clock import Clock, ManualClock, new_id
from cloudtaskhub.events.bus import Bus, Consumer
from cloudtaskhub.events.contract import Event
from cloudtaskhub.events.dispatcher import is_transient
from cloudtaskhub.events.envelope import Envelope, decode_data
from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.module import HandlerContext, Module, Subscription
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import ALGORITHM
from cloudtaskhub.settings import Settings, load_settings

__all__ = [
    "HandlerFailure",
    "ModuleHarness",
    "RecordingBus",
    "Stimulus",
    "TestUser",
    "UnexpectedHandlerFailure",
    "WriterGate",
    "test_settings",
]

E = TypeVar("E", bound=Event)


def test_settings(database_url: str, data_dir: str, **overrides: Any) -> Settings:
    """Settings for hermetic tests: nothing read from the environment."""
    values: dict[str, Any] = {
        "env": "test",
        "database_url": database_url,
        "data_dir": data_dir,
        "db_bootstrap": "create",
        "heartbeat_interval_seconds": 3600.0,
        "handler_backoff_base_seconds": 0.01,
        "handler_backoff_max_seconds": 0.05,
        "outbox_poll_interval_seconds": 0.2,
        "log_format": "text",
        "log_level": "WARNING",
        "process_name": "test-process",
    }
    values.update(overrides)
    from pathlib import Path

    values["data_dir"] = Path(values["data_dir"])
    return cast(Settings, load_settings(environ={}, **values))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class HandlerFailure:
    """A handler that raised, or an event a consumer dead-lettered."""

    consumer: str
    type: str
    error: str
    dead_lettered: bool

    def __str__(self) -> str:
        what = "dead-lettered" if self.dead_lettered else "handler raised"
        return f"{self.consumer} {what} on {self.type}: {self.error}"


class UnexpectedHandlerFailure(AssertionError):
    """A handler raised or an event was dead-lettered, and the test did not declare it."""


@dataclass(frozen=True)
class _Expected:
    consumer: str | None
    event: type[Event] | None
    dead_letter: bool

    def covers(self, failure: HandlerFailure) -> bool:
        if self.consumer is not None and self.consumer != failure.consumer:
            return False
        if self.event is not None and not self.event.matches(failure.type):
            return False
        # A declared dead letter implies the handler raised first; not the other way round.
        return self.dead_letter or not failure.dead_lettered


class WriterGate:
    """Holds every UPDATE or DELETE of one table until `writers` of them arrived, so
    each writer has read the row before any of them writes it: the interleaving that
    optimistic locking exists for, made certain instead of left to the scheduler.

    SQLite writers queue at `BEGIN IMMEDIATE` (see `cloudtaskhub.db.engines`), so two
    writes there can never overlap a read; the gate then stays open and `held` stays 0.
    """

    def __init__(self, table: str, writers: int, timeout: float) -> None:
        self._statement = re.compile(rf'\s*(UPDATE|DELETE\s+FROM)\s+"?{re.escape(table)}"?\s', re.IGNORECASE)
        #: How many writers the gate waits for (0 on SQLite).
        self.writers = writers
        self._timeout = timeout
        self._all_arrived = asyncio.Event()
        #: Writes the gate held until all writers had arrived.
        self.held = 0
        #: True when the last writer never came (the writers did not overlap).
        self.timed_out = False

    def before_cursor_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.held >= self.writers or not self._statement.match(statement):
            return
        self.held += 1
        if self.held == self.writers:
            self._all_arrived.set()
            return
        # Runs inside SQLAlchemy's greenlet of an async engine, so it may await.
        try:
            await_(asyncio.wait_for(self._all_arrived.wait(), self._timeout))
        except TimeoutError:
            self.timed_out = True

    @property
    def met(self) -> bool:
        """Every writer reached the gate before any of them wrote."""
        return self.held == self.writers and not self.timed_out


class RecordingBus:
    """Wraps a bus and remembers every envelope published through it, and every
    event a consumer dead-lettered."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.published: list[Envelope] = []
        self.dead_lettered: list[HandlerFailure] = []
        self.changed = asyncio.Condition()

    async def start(self, consumers: Sequence[Consumer], publishers: Sequence[str]) -> None:
        await self.inner.start(consumers, publishers)

    async def publish(self, envelopes: Sequence[Envelope]) -> Sequence[asyncio.Future[None]]:
        settled = await self.inner.publish(envelopes)
        self.published.extend(envelopes)
        async with self.changed:
            self.changed.notify_all()
        return settled

    async def dead_letter(self, consumer: str, envelope: Envelope, error: str, attempts: int) -> None:
        self.dead_lettered.append(HandlerFailure(consumer, envelope.type, error, dead_lettered=True))
        await self.inner.dead_letter(consumer, envelope, error, attempts)

    async def check(self) -> None:
        await self.inner.check()

    async def stop(self) -> None:
        await self.inner.stop()


@dataclass(frozen=True)
class TestUser:
    id: UUID
    email: str
    display_name: str
    token: str
    roles: tuple[str, ...] = field(default=())

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Stimulus:
    """Something done to the system, then waited on:
    `await harness.stimulate(harness.post(...)).wait_for(TaskAssigned, where=...)`."""

    def __init__(self, harness: ModuleHarness, action: Awaitable[Any]) -> None:
        self._harness = harness
        self._action = action
        self._done = False
        #: What the action returned (e.g. the HTTP response), once awaited.
        self.result: Any = None

    async def run(self) -> Any:
        if not self._done:
            self._done = True
            self.result = await self._action
        return self.result

    async def wait_for(
        self, event_type: type[E], where: Callable[[E], bool] = lambda _: True, timeout: float = 2.0
    ) -> E:
        """Run the action, then wait for an event of `event_type` matching `where`."""
        await self.run()
        return await self._harness.expect(event_type, where=where, timeout=timeout)


class ModuleHarness:
    def __init__(
        self,
        modules: Sequence[Module],
        *,
        database_url: str,
        data_dir: str,
        clock: Clock | None = None,
        environ: dict[str, str] | None = None,
        metrics: bool = False,
        **settings: Any,
    ) -> None:
        """`metrics`: serve Prometheus metrics on a free loopback port (`scrape()`)."""
        self.clock = clock or ManualClock()
        if metrics:
            settings.setdefault("metrics_port", _free_port())
        self.settings = test_settings(database_url, data_dir, **settings)
        self.bus = RecordingBus(InProcessBus(lanes=self.settings.bus_lanes))
        #: Every non-transient exception a handler raised (retried or not), in order.
        self.handler_failures: list[HandlerFailure] = []
        self._expected: list[_Expected] = []
        watched = [self._watch(module) for module in modules]
        self.app = create_app(watched, self.settings, clock=self.clock, bus=self.bus, environ=environ or {})
        self.runtime: Runtime = self.app.state.runtime
        # Same event loop as the test (Litestar's TestClient runs the app in another
        # thread's loop), so `settle()` and the app's tasks share one loop.
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=cast(Any, self.app)), base_url="http://testserver.local"
        )

    async def __aenter__(self) -> ModuleHarness:
        await self.runtime.start()
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        await self.client.aclose()
        await self.runtime.stop()
        if exc_type is None:  # a test that already failed keeps its own error
            self.check_handler_failures()

    # -- handler failures ------------------------------------------------------

    def _watch(self, module: Module) -> Module:
        """The same module with each handler wrapped to record what it raises."""
        if not module.subscriptions:
            return module
        subscriptions = [Subscription(s.event, self._recording(module.name, s)) for s in module.subscriptions]
        return dataclasses.replace(module, subscriptions=subscriptions)

    def _recording(
        self, consumer: str, subscription: Subscription[Any]
    ) -> Callable[[Any, HandlerContext], Awaitable[None]]:
        handler = subscription.handler

        @functools.wraps(handler)
        async def recorded(event: Any, context: HandlerContext) -> None:
            try:
                await handler(event, context)
            except Exception as error:
                # Infrastructure hiccups (SQLite busy, a dropped connection) are retried
                # without limit by design; a programming error is what a test must see.
                if not is_transient(error):
                    failure = HandlerFailure(
                        consumer, context.envelope.type, f"{type(error).__name__}: {error}", False
                    )
                    self.handler_failures.append(failure)
                raise

        return recorded

    def expect_handler_failure(
        self, event: type[Event] | None = None, *, consumer: str | None = None
    ) -> None:
        """Declare that a handler of `consumer` raises on `event` in this test (and at least once)."""
        self._expected.append(_Expected(consumer, event, dead_letter=False))

    def expect_dead_letter(self, event: type[Event] | None = None, *, consumer: str | None = None) -> None:
        """Declare that `consumer` dead-letters `event` in this test (and at least once)."""
        self._expected.append(_Expected(consumer, event, dead_letter=True))

    @property
    def failures(self) -> list[HandlerFailure]:
        """Handler exceptions and dead letters seen so far, in that order."""
        return [*self.handler_failures, *self.bus.dead_lettered]

    def check_handler_failures(self) -> None:
        """Raise when a failure was not declared, or a declared one never happened."""
        failures = self.failures
        unexpected = [f for f in failures if not any(e.covers(f) for e in self._expected)]
        if unexpected:
            listed = "\n  ".join(str(f) for f in unexpected)
            raise UnexpectedHandlerFailure(
                f"{len(unexpected)} undeclared handler failure(s) (declare them with "
                f"expect_handler_failure / expect_dead_letter):\n  {listed}"
            )
        for expected in self._expected:
            wanted = [f for f in failures if expected.covers(f) and f.dead_lettered == expected.dead_letter]
            if not wanted:
                what = "dead letter" if expected.dead_letter else "handler failure"
                event = expected.event.__event_type__ if expected.event is not None else "any event"
                raise UnexpectedHandlerFailure(
                    f"expected a {what} of {event} in {expected.consumer or 'any consumer'}; none happened"
                )

    # -- identities ---------------------------------------------------------

    def user(
        self,
        email: str,
        display_name: str = "",
        roles: Sequence[str] = (),
        user_id: UUID | None = None,
        *,
        expires_in: timedelta = timedelta(hours=1),
        session_id: UUID | None = None,
    ) -> TestUser:
        """A caller with a valid access token (minted with the dev key; no auth module needed),
        valid for `expires_in`, of login session `session_id` (the `sid` claim) if given."""
        uid = user_id or new_id()
        now = self.clock.now()
        claims = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": str(uid),
            "email": email.lower(),
            "roles": list(roles),
            "typ": "access",
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
            "jti": str(new_id()),
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        token = jwt.encode(claims, self.runtime.keys.private_key, algorithm=ALGORITHM)  # type: ignore[arg-type]
        return TestUser(uid, email.lower(), display_name or email.split("@")[0], token, tuple(roles))

    # -- stimuli -------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def writers_meet(
        self, module: str, table: str, writers: int = 2, timeout: float = 10.0
    ) -> AsyncIterator[WriterGate]:
        """Within the block, `writers` writes of `table` in `module`'s database wait for each
        other (PostgreSQL: all have read first; SQLite queues writers anyway)."""
        engine = self.runtime.module(module).engine
        gate = WriterGate(table, writers if engine.dialect.name != "sqlite" else 0, timeout)
        sa_event.listen(engine.sync_engine, "before_cursor_execute", gate.before_cursor_execute)
        try:
            yield gate
        finally:
            sa_event.remove(engine.sync_engine, "before_cursor_execute", gate.before_cursor_execute)

    async def publish(self, event: Event, *, source: str | None = None) -> Envelope:
        """Deliver `event` as if it had arrived from its publisher; returns once settled."""
        origin = source or event.event_source()
        envelope = Envelope(
            id=new_id(),
            source=origin,
            type=event.type_for(origin),
            time=self.clock.now(),
            subject=event.subject(),
            data=msgspec.Raw(msgspec.json.encode(event)),
        )
        await self.deliver(envelope)
        return envelope

    async def deliver(self, envelope: Envelope) -> None:
        """Deliver a raw envelope (e.g. a duplicate) and wait until every consumer settled it."""
        settled = await self.bus.inner.publish([envelope])
        await asyncio.gather(*settled)
        await self.settle()

    async def request(
        self, method: str, path: str, *, user: TestUser | None = None, settle: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send a request; with `settle`, return once the events it caused were handled."""
        headers = dict(kwargs.pop("headers", None) or {})
        if user is not None:
            headers.setdefault("Authorization", f"Bearer {user.token}")
        response = await self.client.request(method, path, headers=headers, **kwargs)
        if settle:
            await self.settle()
        return response

    async def race(self, *requests: tuple[str, str, dict[str, Any]]) -> list[httpx.Response]:
        """Send `(method, path, kwargs)` requests at once, answers in the same order;
        returns once every event they caused was handled."""
        responses = await asyncio.gather(
            *(self.request(method, path, settle=False, **kwargs) for method, path, kwargs in requests)
        )
        await self.settle()
        return list(responses)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)

    async def scrape(self) -> httpx.Response:
        """GET /metrics from the metrics listener, as Prometheus does (needs `metrics=True`)."""
        if self.runtime.metrics is None:
            raise RuntimeError("no metrics listener: ModuleHarness(..., metrics=True)")
        url = f"http://127.0.0.1:{self.runtime.metrics.port}/metrics"
        async with httpx.AsyncClient(timeout=10.0) as client:
            return await client.get(url)

    async def settle(self) -> None:
        """Deliver every pending outbox row and wait for the handlers it triggers."""
        await self.runtime.drain()

    def stimulate(self, action: Awaitable[Any]) -> Stimulus:
        """Wrap a stimulus (`harness.post(...)`, `harness.publish(...)`) to wait on its events."""
        return Stimulus(self, action)

    # -- expectations --------------------------------------------------------

    def published(self, event_type: type[E]) -> list[E]:
        """Events of `event_type` published through the outbox so far in this test."""
        return [decode_data(e, event_type) for e in self.bus.published if event_type.matches(e.type)]

    async def expect(
        self, event_type: type[E], where: Callable[[E], bool] = lambda _: True, timeout: float = 2.0
    ) -> E:
        """Wait until an event of `event_type` matching `where` is published; return it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for event in self.published(event_type):
                if where(event):
                    return event
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                seen = [e.type for e in self.bus.published]
                raise AssertionError(f"no {event_type.__event_type__} matching within {timeout}s; saw {seen}")
            async with self.bus.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.bus.changed.wait(), timeout=remaining)
