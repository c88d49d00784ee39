"""One trace from an HTTP request through the outbox and the bus into other modules' handlers,
as exported over OTLP/HTTP to a real receiver (all-in-one: one process, in-process bus)."""

from __future__ import annotations

import asyncio

import pytest

from cloudtaskhub.telemetry import flush_traces
from cloudtaskhub.testing import ModuleHarness
from entrypoints.registry import ALL_MODULES
from modules.auth.contracts import UserRegistered
from modules.notification.service import provide_notification_service
from modules.project.contracts import TaskAssigned
from tests.observability.otlp import OtlpReceiver, ReceivedSpan
from tests.observability.scenario import API, PATCH_ROUTE, assign_a_task, assigned_type, consumers_of


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    with OtlpReceiver() as r:
        yield r


@pytest.fixture
async def harness(receiver: OtlpReceiver, database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        ALL_MODULES,
        database_url=database_url,
        data_dir=str(tmp_path),
        otel_exporter_otlp_endpoint=receiver.endpoint,
    ) as h:
        yield h


def _trace_of_patch(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    server = [s for s in spans if s.kind == "SERVER" and s.name == f"PATCH {PATCH_ROUTE}"]
    if not server:
        return []
    trace = [s for s in spans if s.trace_id == server[0].trace_id]
    consumers = {s.attributes.get("messaging.consumer.group.name") for s in trace if s.kind == "CONSUMER"}
    return trace if consumers >= consumers_of(TaskAssigned, ALL_MODULES) else []


async def test_one_trace_runs_from_the_request_through_the_bus_into_other_modules_handlers(
    harness: ModuleHarness, receiver: OtlpReceiver
) -> None:
    await assign_a_task(harness)
    flush_traces()

    trace = receiver.wait_for(_trace_of_patch)
    assert trace, f"no complete trace for PATCH among {sorted({s.name for s in receiver.spans})}"
    by_id = {s.span_id: s for s in trace}
    server = next(s for s in trace if s.kind == "SERVER")
    producer = next(s for s in trace if s.kind == "PRODUCER" and s.name == f"{assigned_type()} publish")
    consumers = [s for s in trace if s.kind == "CONSUMER" and s.parent_span_id == producer.span_id]
    assert {c.attributes["messaging.consumer.group.name"] for c in consumers} == consumers_of(
        TaskAssigned, ALL_MODULES
    )
    assert "project" not in {c.attributes["messaging.consumer.group.name"] for c in consumers}
    assert _ancestors(producer, by_id)[-1] == server
    assert server.attributes["http.route"] == PATCH_ROUTE


async def test_database_statements_of_the_request_are_spans_in_its_trace(
    harness: ModuleHarness, receiver: OtlpReceiver
) -> None:
    await assign_a_task(harness)
    flush_traces()

    trace = receiver.wait_for(_trace_of_patch)
    statements = [s for s in trace if s.kind == "CLIENT" and _is_database(s)]
    server = next(s for s in trace if s.kind == "SERVER")
    assert any(s.parent_span_id == server.span_id for s in statements)
    assert any(
        s.attributes.get("db.statement", s.attributes.get("db.query.text", "")).startswith("UPDATE")
        for s in statements
    )


def _ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    chain = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        chain.append(span)
    return chain


def _is_database(span: ReceivedSpan) -> bool:
    return "db.system" in span.attributes or "db.system.name" in span.attributes


async def test_the_live_push_of_a_notification_continues_the_request_trace(
    harness: ModuleHarness, receiver: OtlpReceiver
) -> None:
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    for user in (alice, bob):
        await harness.publish(UserRegistered(user_id=user.id, email=user.email, display_name=user.email))
    project = (await harness.post(f"{API}/projects", json={"name": "Apollo"}, user=alice)).json()
    await harness.post(
        f"{API}/projects/{project['id']}/members", json={"email": bob.email, "role": "member"}, user=alice
    )
    task = (
        await harness.post(f"{API}/projects/{project['id']}/tasks", json={"title": "Spec"}, user=alice)
    ).json()
    service = provide_notification_service(harness.runtime.module("notification"))
    stream = await service.open_stream(bob.id, session_id=None, expires_at=None)
    live = service.follow(stream, expires_at=None)
    assert await anext(live) is None  # listening

    await harness.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": str(bob.id)}, user=alice)
    pushed = await asyncio.wait_for(anext(live), timeout=5)
    await live.aclose()
    flush_traces()

    assert pushed is not None
    assert pushed.kind == "task_assigned"
    trace = receiver.wait_for(
        lambda spans: (
            [s for s in spans if s.name == "notification push"]
            and [s for s in spans if s.kind == "SERVER" and s.name == f"PATCH {PATCH_ROUTE}"]
        )
    )
    server = next(s for s in receiver.spans if s.kind == "SERVER" and s.name == f"PATCH {PATCH_ROUTE}")
    push = next(s for s in receiver.spans if s.name == "notification push")
    assert trace
    assert push.trace_id == server.trace_id
