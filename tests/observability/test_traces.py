"""One trace from an HTTP request through the outbox and the bus into other modules' handlers,
as exported over OTLP/HTTP to a real receiver (all-in-one: one process, in-process bus)."""

from __future__ import annotations

import pytest

from cloudtaskhub.telemetry import flush_traces
from cloudtaskhub.testing import ModuleHarness
from entrypoints.registry import ALL_MODULES
from modules.project.contracts import TaskAssigned
from tests.observability.otlp import OtlpReceiver, ReceivedSpan
from tests.observability.scenario import PATCH_ROUTE, assign_a_task, assigned_type, consumers_of


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
