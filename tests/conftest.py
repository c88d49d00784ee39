"""Shared fixtures: the database every module test runs on — SQLite, and PostgreSQL
at CTH_TEST_DATABASE_URL or, when that is unset, at the default local address if a
server answers there (as on CI). Set CTH_TEST_DATABASE_URL= (empty) to run SQLite only.
The terminal summary says how many PostgreSQL variants ran or were skipped, and why.

A PostgreSQL variant is a test that asked for the server: the `database_url` fixture's
postgresql parameter, a `requires_postgres()` call, or the `integration` mark. The
server and the tally live in `tests/support/postgres.py` (see there why not here)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.postgres import (
    POSTGRES_SKIPPED_BECAUSE,
    POSTGRES_URL,
    count_report,
    note_running,
    requires_postgres,
    reset_postgres,
    summary_line,
)

# Importers of `tests.conftest` get the one shared copy of these.
__all__ = ["POSTGRES_SKIPPED_BECAUSE", "POSTGRES_URL", "requires_postgres", "reset_postgres"]


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    url = requires_postgres()
    await reset_postgres(url)
    yield url


def pytest_runtest_logstart(nodeid: str) -> None:
    note_running(nodeid)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    count_report(report)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    summary = summary_line()
    if summary is not None:
        line, skipped = summary
        terminalreporter.write_line(line, yellow=bool(skipped), bold=True)
