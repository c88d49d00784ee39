"""SIGTERM under load: requests in flight finish, open SSE streams end, the process
exits promptly, and events not yet on the bus stay in the outbox for the next start.

An all-in-one process on Kafka, with the broker stalled (SIGSTOP) so that the
outbox is certainly holding rows when the signal arrives.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping

import httpx
import pytest

from entrypoints.split import Child, _venv_tool
from tests.reliability.support import FAULT_TEST_TIMEOUT, AllInOne, Api, Load, Team, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(FAULT_TEST_TIMEOUT)]

#: uvicorn's own limit (`timeout_graceful_shutdown`) is 20 s; the bus gets 10 s of it
#: (`BUS_STOP_GRACE_SECONDS`) when the broker does not answer.
PROMPT_EXIT_SECONDS = 15.0
#: uvicorn re-raises the signal it caught once it has shut down cleanly.
CLEAN_EXIT = (0, -signal.SIGTERM)


def _pending_in_outbox(env: Mapping[str, str]) -> dict[str, int]:
    """`cloudtaskhub outbox status`, as an operator would run it between two starts."""
    listing = subprocess.run(
        [_venv_tool("cloudtaskhub"), "outbox", "status"],
        env={**os.environ, **env, "CTH_BUS": "memory"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = (re.match(r"^(\w+)\s+(\d+)\s", line) for line in listing.splitlines()[1:])
    return {row.group(1): int(row.group(2)) for row in rows if row}


class StreamWatch:
    """Follows the owner's notification stream on a thread: `opened` once the server's
    first heartbeat arrived (the stream is listening), `ended` when the stream is over,
    `error` set when it did not end by the server closing it cleanly."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.opened = threading.Event()
        self.ended = threading.Event()
        self.error: str | None = None
        threading.Thread(target=self._follow, args=(url, headers), daemon=True).start()

    def _follow(self, url: str, headers: dict[str, str]) -> None:
        try:
            with httpx.stream(
                "GET", f"{url}/api/v1/notifications/stream", headers=headers, timeout=60
            ) as events:
                if events.status_code != 200 or not events.headers["content-type"].startswith(
                    "text/event-stream"
                ):
                    self.error = f"answered {events.status_code} {events.headers.get('content-type')}"
                    return
                for line in events.iter_lines():
                    if line.startswith(": heartbeat") or line.startswith(":heartbeat"):
                        self.opened.set()
            # The body ended with its last chunk: the server closed the stream.
        except httpx.HTTPError as error:  # cut off (a dying process) or never connected
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.ended.set()

    def ended_by_the_server(self, timeout: float) -> bool:
        return self.ended.wait(timeout) and self.opened.is_set() and self.error is None


def _sigterm_under_load(app: AllInOne, team: Team) -> tuple[float, Load]:
    """SIGTERM once 30 tasks were created, with the load still running; the exit time and the load."""
    with Load(
        app.url, lambda n, o, http: team.create_task(n, o, http), threads=6, fresh_connections=True
    ) as load:
        eventually(lambda: load.outcomes.ok >= 30, "load before the signal", timeout=60)
        app.child.signal(signal.SIGTERM)
        signalled = time.monotonic()
        app.child.process.wait(timeout=60)
        exited_after = time.monotonic() - signalled
    return exited_after, load


def _watch_stream(url: str, team: Team) -> StreamWatch:
    """Follow the owner's notification stream in the background, and wait until it listens."""
    stream = StreamWatch(url, team.owner.headers)
    assert stream.opened.wait(30), f"the stream never opened: {stream.error}"
    return stream


def test_sigterm_with_an_open_stream_under_load_exits_at_once(all_in_one: AllInOne) -> None:
    api = Api(all_in_one.url)
    team = Team.form(api)
    stream = _watch_stream(all_in_one.url, team)

    exited_after, load = _sigterm_under_load(all_in_one, team)
    returncode = all_in_one.child.process.returncode
    print(
        f"SIGTERM with an open SSE stream: exited {returncode} after {exited_after:.1f}s; "
        f"{load.outcomes.summary()}; SSE stream ended by the server: {stream.ended_by_the_server(0)}"
    )

    assert load.outcomes.dirty == []
    assert exited_after < 5.0
    assert returncode in CLEAN_EXIT
    assert stream.ended_by_the_server(5), stream.error
    all_in_one.start()
    # Requests the shutting-down server closed unread never reached a handler: every task
    # committed was answered 2xx, and every 2xx answer was committed.
    figures = team.verify_exactly_once("after the restart")
    assert figures["tasks committed"] == load.outcomes.ok
    api.close()


def _refuses_connections(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_a_request_in_flight_when_sigterm_arrives_is_answered_and_kept(all_in_one: AllInOne) -> None:
    """The body of a task arrives in two halves, with SIGTERM between them: the process has
    stopped accepting connections but finishes the request it is reading."""
    api = Api(all_in_one.url)
    team = Team.form(api)
    server = all_in_one.child

    def body_across_the_signal() -> Iterator[bytes]:
        yield b'{"title": "Sent across the signal", '
        server.signal(signal.SIGTERM)
        eventually(
            lambda: _refuses_connections(all_in_one.port), "the server to stop accepting connections", 15
        )
        yield b'"priority": "urgent"}'

    created = httpx.post(
        f"{all_in_one.url}/api/v1/projects/{team.project}/tasks",
        content=body_across_the_signal(),
        headers={**team.owner.headers, "Content-Type": "application/json"},
        timeout=30,
    )
    server.process.wait(timeout=30)
    print(f"request in flight across SIGTERM: {created.status_code}; exited {server.process.returncode}")

    assert created.status_code == 201, created.text
    assert server.process.returncode in CLEAN_EXIT
    all_in_one.start()
    kept = api.get(f"/api/v1/tasks/{created.json()['id']}", team.owner)
    assert (kept["title"], kept["priority"]) == ("Sent across the signal", "urgent")
    api.close()


@pytest.mark.kafka
def test_sigterm_under_load_with_the_broker_stalled_keeps_the_outbox_for_the_next_start(
    all_in_one_on_kafka: tuple[AllInOne, Child],
) -> None:
    app, broker = all_in_one_on_kafka
    team = Team.form(Api(app.url))
    stream = _watch_stream(app.url, team)

    broker.signal(signal.SIGSTOP)
    exited_after, load = _sigterm_under_load(app, team)
    returncode = app.child.process.returncode
    pending = _pending_in_outbox(app.env)
    print(
        f"SIGTERM under load: exited {returncode} after {exited_after:.1f}s; "
        f"{load.outcomes.summary()}; SSE stream ended by the server: {stream.ended_by_the_server(0)}; "
        f"outbox pending: {pending}"
    )

    assert load.outcomes.dirty == []
    assert exited_after < PROMPT_EXIT_SECONDS
    assert returncode in CLEAN_EXIT
    assert stream.ended_by_the_server(5), stream.error
    assert pending["project"] > 0

    broker.signal(signal.SIGCONT)
    app.start()
    figures = team.verify_exactly_once("after the restart")
    assert figures["tasks committed"] == load.outcomes.ok
    assert eventually(lambda: _pending_in_outbox(app.env)["project"] == 0, "the outbox to drain", 60)
