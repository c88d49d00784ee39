"""GET /notifications/stream: new notifications pushed live over Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from modules.project.contracts import TaskAssigned
from tests.modules.notification.servers import serving


async def _next_event(lines, kind: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Read SSE lines until an event whose `event:` is `kind`, or a comment line for
    `kind="comment"` (then any whole event before it fails the test)."""
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if fields.get("event") == kind:
                return fields
            assert kind != "comment" or "event" not in fields, f"unexpected event {fields}"
            fields = {}
        elif line.startswith(":"):
            fields["comment"] = line[1:].strip()
            if kind == "comment":
                return fields
        else:
            name, _, value = line.partition(":")
            fields[name] = value.lstrip()
    raise AssertionError("stream ended")


@asynccontextmanager
async def streaming(harness, user) -> AsyncIterator[AsyncIterator[str]]:  # type: ignore[no-untyped-def]
    """The caller's open stream (over real HTTP), as lines, once it is listening."""
    async with (
        serving(harness.app) as base,
        httpx.AsyncClient(base_url=base, timeout=5) as client,
        client.stream("GET", "/api/v1/notifications/stream", headers=user.headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.aiter_lines()
        await _next_event(lines, "comment")
        yield lines


async def test_assignment_is_pushed_to_an_open_stream_within_a_second(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    async with streaming(harness, bob) as lines:
        started = time.monotonic()

        await harness.publish(
            TaskAssigned(
                task_id=task.task_id, project_id=task.project_id, assignee_id=bob.id, assigned_by=alice.id
            )
        )
        event = await asyncio.wait_for(_next_event(lines, "notification"), timeout=1.0)

        assert time.monotonic() - started < 1.0
        pushed = json.loads(event["data"])
        assert (pushed["kind"], pushed["subject_id"]) == ("task_assigned", str(task.task_id))
        listed = (await harness.get("/api/v1/notifications", user=bob)).json()["items"]
        assert [item["id"] for item in listed] == [pushed["id"]] == [event["id"]]


async def test_stream_sends_heartbeats_while_idle(harness, bob):  # type: ignore[no-untyped-def]
    async with streaming(harness, bob) as lines:
        beat = await asyncio.wait_for(_next_event(lines, "comment"), timeout=2.0)  # heartbeat every 0.5 s

        assert beat["comment"] == "heartbeat"


async def test_stream_pushes_only_the_callers_notifications(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    async with streaming(harness, alice) as lines:
        await harness.publish(
            TaskAssigned(
                task_id=task.task_id, project_id=task.project_id, assignee_id=bob.id, assigned_by=alice.id
            )
        )
        beat = await asyncio.wait_for(_next_event(lines, "comment"), timeout=2.0)

        assert beat["comment"] == "heartbeat"  # the next thing Alice sees is a heartbeat, not Bob's news


async def test_stream_needs_a_token(harness):  # type: ignore[no-untyped-def]
    response = await harness.get("/api/v1/notifications/stream")

    assert response.status_code == 401
