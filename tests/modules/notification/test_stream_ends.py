"""A live stream lives no longer than what admitted it: its access token (the stream
ends at `exp`) and the token's login session (a logout ends it). And one user holds at
most CTH_NOTIFICATION_SSE_MAX_STREAMS_PER_USER streams in a process."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness
from cloudtaskhub.testing import TestUser as User
from modules.auth import module as auth
from modules.notification import module as notification
from modules.notification.live import Signals
from modules.notification.service import NotificationService
from tests.modules.notification.conftest import ENVIRON
from tests.modules.notification.servers import serving

STREAM = "/api/v1/notifications/stream"
PASSWORD = "correct horse battery staple"
#: How long a stream may take to end once it must: the in-process signal is immediate,
#: another replica's logout is found by the next poll (0.2 s here).
DEADLINE = 10.0


class Opened:
    """One open stream: its events as dicts (`event`, `data`, `comment`), until it ends."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next_event(self) -> dict[str, str] | None:
        """The next event or comment; None when the server ended the stream."""
        fields: dict[str, str] = {}
        async for line in self._lines:
            if not line:
                if fields:
                    return fields
            elif line.startswith(":"):
                fields["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(":")
                fields[name] = value.lstrip()
        return None

    async def end(self) -> tuple[list[dict[str, str]], float]:
        """Read until the server ends the stream: what came last, and when it ended."""
        seen: list[dict[str, str]] = []
        while (event := await self.next_event()) is not None:
            seen.append(event)
        return seen, time.time()


@asynccontextmanager
async def open_streams(harness: ModuleHarness) -> AsyncIterator[Any]:
    """`open(headers)`: a stream over real HTTP, listening (its first heartbeat read)."""
    async with AsyncExitStack() as stack:
        base = await stack.enter_async_context(serving(harness.app))
        client = await stack.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))

        async def open_(headers: dict[str, str]) -> Opened | httpx.Response:
            response = await stack.enter_async_context(client.stream("GET", STREAM, headers=headers))
            if response.status_code != 200:
                await response.aread()
                return response
            opened = Opened(response)
            assert is_heartbeat(await opened.next_event())
            return opened

        yield open_


def is_heartbeat(event: dict[str, str] | None) -> bool:
    return event is not None and event.get("comment") == "heartbeat" and "event" not in event


async def ended_by_server(opened: Opened) -> list[dict[str, str]]:
    seen, _ = await asyncio.wait_for(opened.end(), timeout=DEADLINE)
    return seen


def end_reason(seen: list[dict[str, str]]) -> str:
    last = seen[-1]
    assert last["event"] == "end", seen
    return str(json.loads(last["data"])["reason"])


# -- token expiry --------------------------------------------------------------------


async def test_a_stream_ends_when_its_access_token_expires(harness: ModuleHarness) -> None:
    # `exp` is wall-clock time, as the verifier reads it; the harness clock stands still.
    expires_in = datetime.now(UTC) - harness.clock.now() + timedelta(seconds=3)
    bob = harness.user("bob@example.com", expires_in=expires_in)
    expires_at = int((harness.clock.now() + expires_in).timestamp())  # JWT `exp` is whole seconds

    async with open_streams(harness) as open_:
        opened = await open_(bob.headers)
        seen, ended_at = await asyncio.wait_for(opened.end(), timeout=3 + DEADLINE)

    assert end_reason(seen) == "token_expired"
    assert ended_at >= expires_at  # not before its time either


async def test_an_expired_token_opens_no_stream_even_within_the_verifiers_leeway(
    harness: ModuleHarness,
) -> None:
    # The verifier tolerates 5 s of clock skew on `exp`; a stream must not start on it.
    expires_in = datetime.now(UTC) - harness.clock.now() - timedelta(seconds=2)
    bob = harness.user("bob@example.com", expires_in=expires_in)

    response = await harness.get(STREAM, user=bob)

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_stream_ends_without_an_end_event_when_the_process_is_told_to_stop(
    harness: ModuleHarness,
) -> None:
    bob = harness.user("bob@example.com")

    async with open_streams(harness) as open_:
        opened = await open_(bob.headers)
        harness.runtime.request_stop()  # SIGTERM: the server waits for open streams to end
        seen = await ended_by_server(opened)

    assert [event for event in seen if "event" in event] == []  # not the token's or the session's end


# -- session ended (logout) ----------------------------------------------------------


@pytest.fixture
async def with_auth(database_url: str, tmp_path) -> AsyncIterator[ModuleHarness]:  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [auth, notification],
        database_url=database_url,
        data_dir=str(tmp_path),
        environ={**ENVIRON, "CTH_NOTIFICATION_SSE_POLL_SECONDS": "0.2"},
    ) as h:
        yield h


async def log_in(harness: ModuleHarness, email: str) -> dict[str, str]:
    """Register once, then log in: a new login session each call."""
    await harness.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "B"}
    )
    response = await harness.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens: dict[str, str] = response.json()
    return tokens


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


async def test_logging_out_ends_the_sessions_streams_and_opens_no_new_one(with_auth: ModuleHarness) -> None:
    laptop = await log_in(with_auth, "bob@example.com")
    phone = await log_in(with_auth, "bob@example.com")  # another session of the same user

    async with open_streams(with_auth) as open_:
        on_laptop, on_phone = await open_(bearer(laptop)), await open_(bearer(phone))

        logout = await with_auth.post("/api/v1/auth/logout", json={"refresh_token": laptop["refresh_token"]})
        seen = await ended_by_server(on_laptop)
        again = await open_(bearer(laptop))  # the access token itself has not expired
        still = await asyncio.wait_for(on_phone.next_event(), timeout=DEADLINE)

    assert logout.status_code == 204
    assert end_reason(seen) == "session_ended"
    assert isinstance(again, httpx.Response)
    assert again.status_code == 401
    assert again.json()["detail"] == "session ended"
    assert is_heartbeat(still)  # the other session's stream goes on


async def test_a_reused_refresh_token_ends_the_sessions_streams(with_auth: ModuleHarness) -> None:
    tokens = await log_in(with_auth, "bob@example.com")
    rotated = await with_auth.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    async with open_streams(with_auth) as open_:
        opened = await open_(bearer(rotated.json()))
        stolen = await with_auth.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        seen = await ended_by_server(opened)

    assert stolen.status_code == 401
    assert end_reason(seen) == "session_ended"


async def test_a_logout_handled_by_another_replica_ends_the_stream_at_its_next_poll(
    with_auth: ModuleHarness,
) -> None:
    session_id = new_id()
    bob = with_auth.user("bob@example.com", session_id=session_id)
    module = with_auth.runtime.module("notification")
    # Another notification process: the same database, its own in-process signals.
    replica = NotificationService(module.uow, module.clock, module.config, Signals())

    async with open_streams(with_auth) as open_:
        opened = await open_(bob.headers)
        await replica.end_session(bob.id, session_id)
        seen = await ended_by_server(opened)

    assert end_reason(seen) == "session_ended"


# -- streams per user ----------------------------------------------------------------


@pytest.fixture
async def capped(database_url: str, tmp_path) -> AsyncIterator[ModuleHarness]:  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [notification],
        database_url=database_url,
        data_dir=str(tmp_path),
        environ={**ENVIRON, "CTH_NOTIFICATION_SSE_MAX_STREAMS_PER_USER": "2"},
    ) as h:
        yield h


async def test_one_stream_past_the_per_user_cap_answers_429_and_closing_one_frees_a_slot(
    capped: ModuleHarness,
) -> None:
    bob, alice = capped.user("bob@example.com"), capped.user("alice@example.com")

    async with open_streams(capped) as open_:
        first, second = await open_(bob.headers), await open_(bob.headers)
        refused = await open_(bob.headers)
        alices = await open_(alice.headers)
        assert isinstance(first, Opened)
        assert isinstance(second, Opened)
        await first.response.aclose()  # the client goes away
        reopened = await _open_within_deadline(open_, bob)

    assert isinstance(refused, httpx.Response)
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["limit"] == 2
    assert "retry-after" in refused.headers
    assert isinstance(alices, Opened)  # the cap is per user
    assert isinstance(reopened, Opened)


async def _open_within_deadline(open_: Any, user: User) -> Opened:
    """The server frees a slot when it notices the client left: poll with a deadline."""
    deadline = time.monotonic() + DEADLINE
    while True:
        attempt = await open_(user.headers)
        if isinstance(attempt, Opened):
            return attempt
        assert attempt.status_code == 429, attempt.text
        assert time.monotonic() < deadline, "no slot freed after the stream was closed"
        await asyncio.sleep(0.1)


async def test_streams_that_ended_free_their_slots(capped: ModuleHarness) -> None:
    expires_in = datetime.now(UTC) - capped.clock.now() + timedelta(seconds=2)
    short = capped.user("bob@example.com", expires_in=expires_in)
    bob = capped.user("bob@example.com", user_id=short.id)

    async with open_streams(capped) as open_:
        ending = [await open_(short.headers), await open_(short.headers)]
        for opened in ending:
            assert isinstance(opened, Opened)
            await ended_by_server(opened)
        after = await open_(bob.headers)

    assert isinstance(after, Opened)
