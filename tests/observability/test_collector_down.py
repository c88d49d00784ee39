"""An unreachable collector costs a log line, never a request."""

from __future__ import annotations

import logging

import pytest

from cloudtaskhub.telemetry import flush_traces
from cloudtaskhub.testing import ModuleHarness
from entrypoints.split import free_port
from modules.gateway import module as gateway


@pytest.fixture
async def harness(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # give up on each batch after a second
    async with ModuleHarness(
        [gateway],
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'down.db'}",
        data_dir=str(tmp_path),
        otel_exporter_otlp_endpoint=f"http://127.0.0.1:{free_port()}",  # nothing listens there
    ) as h:
        yield h


async def test_requests_succeed_and_one_warning_is_logged_while_the_collector_is_down(
    harness: ModuleHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    statuses = []
    for _ in range(3):
        statuses.append((await harness.get("/api/v1/status")).status_code)
        flush_traces(timeout_seconds=15)

    assert statuses == [200, 200, 200]
    exporter_lines = [r for r in caplog.records if "export" in r.getMessage().lower()]
    assert [r.getMessage() for r in exporter_lines] == [
        f"cannot export traces to {harness.settings.otel_exporter_otlp_endpoint}; "
        "dropping spans until it answers"
    ]
