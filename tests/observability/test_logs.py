"""Log lines: JSON with the ids that lead to a request and its trace; readable text for `make run`."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from cloudtaskhub.logging import configure_logging
from cloudtaskhub.testing import ModuleHarness
from cloudtaskhub.testing import test_settings as settings_for_tests
from modules.gateway import module as gateway


@pytest.fixture
def restore_logging(tmp_path) -> Iterator[None]:  # type: ignore[no-untyped-def]
    yield
    configure_logging(settings_for_tests(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", str(tmp_path)))


@pytest.fixture
async def json_harness(restore_logging, capsys, tmp_path) -> Iterator[ModuleHarness]:  # type: ignore[no-untyped-def]
    # capsys first: the log handler binds the stderr that is current when the app is built.
    async with ModuleHarness(
        [gateway],
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}",
        data_dir=str(tmp_path),
        log_format="json",
        log_level="INFO",
        metrics=True,
    ) as h:
        yield h


def json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def test_each_request_leaves_one_json_access_line_with_its_request_and_trace_ids(
    json_harness: ModuleHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await json_harness.get("/api/v1/status", headers={"X-Request-Id": "req-42"})

    lines = [e for e in json_lines(capsys.readouterr().err) if e["logger"] == "cloudtaskhub.http.access"]
    assert len(lines) == 1
    line = lines[0]
    assert {"time", "level", "module", "message", "trace_id", "span_id", "request_id"} <= set(line)
    assert line["request_id"] == response.headers["x-request-id"] == "req-42"
    assert line["http.route"] == "/api/v1/status"
    assert line["http.status"] == response.status_code
    assert len(line["trace_id"]) == 32


async def test_probes_and_scrapes_leave_no_access_lines(
    json_harness: ModuleHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    await json_harness.get("/health/live")
    await json_harness.scrape()

    assert not [e for e in json_lines(capsys.readouterr().err) if e["logger"] == "cloudtaskhub.http.access"]


@pytest.mark.usefixtures("restore_logging")
def test_server_and_library_logs_are_json_lines_too(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    configure_logging(settings_for_tests("sqlite://", str(tmp_path), log_format="json", log_level="INFO"))

    logging.getLogger("uvicorn.error").warning("Started server process")
    logging.getLogger("sqlalchemy.pool").warning("connection invalidated")

    lines = json_lines(capsys.readouterr().err)
    assert [(e["logger"], e["level"]) for e in lines] == [
        ("uvicorn.error", "WARNING"),
        ("sqlalchemy.pool", "WARNING"),
    ]


@pytest.mark.usefixtures("restore_logging")
def test_text_logs_are_readable_lines_with_the_request_id(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from cloudtaskhub.context import correlation_id

    configure_logging(settings_for_tests("sqlite://", str(tmp_path), log_format="text", log_level="INFO"))
    token = correlation_id.set("req-7")
    try:
        logging.getLogger("cloudtaskhub.project").info("task assigned")
    finally:
        correlation_id.reset(token)

    err = capsys.readouterr().err.strip()
    assert not err.startswith("{")
    assert err.endswith("INFO    cloudtaskhub.project: task assigned [request=req-7]")
