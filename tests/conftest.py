"""Shared fixtures: the database every module test runs on — SQLite, and PostgreSQL
at CTH_TEST_DATABASE_URL or, when that is unset, at the default local address if a
server answers there (as on CI). Set CTH_TEST_DATABASE_URL= (empty) to run SQLite only.
The terminal summary says how many PostgreSQL variants ran or were skipped, and why."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def _answers(url: str) -> str | None:
    """None when `url` accepts a connection, else why not."""
    engine = create_async_engine(url, connect_args={"timeout": 3})
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "no usable server here"
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        await engine.dispose()
    return None


def _postgres() -> tuple[str, str]:
    """The PostgreSQL URL the variants use ("" for none) and why none, if so."""
    configured = os.environ.get("CTH_TEST_DATABASE_URL")
    if configured == "":
        return "", "CTH_TEST_DATABASE_URL is set empty (SQLite only)"
    if configured is not None:
        return configured, ""  # explicitly chosen: an unreachable server is an error, not a skip
    problem = asyncio.run(_answers(DEFAULT_POSTGRES_URL))
    if problem is not None:
        return "", f"CTH_TEST_DATABASE_URL unset and no server at {DEFAULT_POSTGRES_URL} ({problem})"
    return DEFAULT_POSTGRES_URL, ""


POSTGRES_URL, POSTGRES_SKIPPED_BECAUSE = _postgres()
_postgres_outcomes: Counter[str] = Counter()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIPPED_BECAUSE)
    await reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL


def requires_postgres() -> str:
    """The PostgreSQL URL, or skip (with the reason) when the variants are off."""
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_SKIPPED_BECAUSE)
    return POSTGRES_URL


async def reset_postgres(url: str) -> None:
    """An empty public schema, so each test starts from nothing."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "postgresql" not in report.nodeid.partition("[")[2] and "integration" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _postgres_outcomes[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    ran = _postgres_outcomes["passed"] + _postgres_outcomes["failed"]
    skipped = _postgres_outcomes["skipped"]
    if not ran and not skipped:
        return
    where = make_url(POSTGRES_URL).render_as_string(hide_password=True) if POSTGRES_URL else "-"
    failed = _postgres_outcomes["failed"]
    line = f"PostgreSQL variants: {ran} ran ({failed} failed) on {where}, {skipped} skipped"
    if skipped and not POSTGRES_URL:
        line += f": {POSTGRES_SKIPPED_BECAUSE}"
    terminalreporter.write_line(line, yellow=bool(skipped), bold=True)
