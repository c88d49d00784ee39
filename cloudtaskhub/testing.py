"""Module test harness: boot modules on the in-process bus and an empty database,
feed them events, drive their HTTP API, and expect the events they publish.

    async with ModuleHarness([notification], database_url=url) as h:
        alice = h.user("alice@example.com")
        await h.publish(TaskAssigned(task_id=t, project_id=p, assignee_id=alice.id, assigned_by=b))
        page = await h.get("/api/v1/notifications", user=alice)
        assert page.json()["items"][0]["subject_id"] == str(t)

Everything is deterministic: `publish` returns once every consumer settled the
event, and `settle()` delivers all pending outbox rows and waits for their handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar, cast
from uuid import UUID

import httpx
import jwt
import msgspec

from cloudtaskhub.app import create_app
from cloudtaskhub.clock import Clock, ManualClock, new_id
from cloudtaskhub.events.bus import Bus, Consumer
from cloudtaskhub.events.contract import Event
from cloudtaskhub.events.envelope import Envelope, decode_data
from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.module import Module
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import ALGORITHM
from cloudtaskhub.settings import Settings, load_settings

__all__ = ["ModuleHarness", "RecordingBus", "Stimulus", "TestUser", "test_settings"]

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


class RecordingBus:
    """Wraps a bus and remembers every envelope published through it."""

    def __init__(self, inner: Bus) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.published: list[Envelope] = []
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
        **settings: Any,
    ) -> None:
        self.clock = clock or ManualClock()
        self.settings = test_settings(database_url, data_dir, **settings)
        self.bus = RecordingBus(InProcessBus(lanes=self.settings.bus_lanes))
        self.app = create_app(modules, self.settings, clock=self.clock, bus=self.bus, environ=environ or {})
        self.runtime: Runtime = self.app.state.runtime
        # Same event loop as the test (Litestar's TestClient runs the app in another
        # thread's loop), so `settle()` and the app's tasks share one loop.
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=cast(Any, self.app)), base_url="http://testserver.local"
        )

    async def __aenter__(self) -> ModuleHarness:
        await self.runtime.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()
        await self.runtime.stop()

    # -- identities ---------------------------------------------------------

    def user(
        self, email: str, display_name: str = "", roles: Sequence[str] = (), user_id: UUID | None = None
    ) -> TestUser:
        """A caller with a valid access token (minted with the dev key; no auth module needed)."""
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
            "exp": now + timedelta(hours=1),
            "jti": str(new_id()),
        }
        token = jwt.encode(claims, self.runtime.keys.private_key, algorithm=ALGORITHM)  # type: ignore[arg-type]
        return TestUser(uid, email.lower(), display_name or email.split("@")[0], token, tuple(roles))

    # -- stimuli -------------------------------------------------------------

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
        self, method: str, path: str, *, user: TestUser | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if user is not None:
            headers.setdefault("Authorization", f"Bearer {user.token}")
        response = await self.client.request(method, path, headers=headers, **kwargs)
        await self.settle()
        return response

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
