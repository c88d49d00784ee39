"""The PostgreSQL server the tests' PostgreSQL variants use, and their tally.

One module, imported by its package name by `tests/conftest.py` and by test files
alike. The conftest itself must not hold this state: pytest imports it as `conftest`,
and a test file's `from tests.conftest import ...` imports a second copy, so what a
test recorded there never reached the summary.

The server: CTH_TEST_DATABASE_URL or, when that is unset, the default local address if
a server answers there (as on CI). CTH_TEST_DATABASE_URL= (empty) means SQLite only.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

__all__ = [
    "DEFAULT_POSTGRES_URL",
    "POSTGRES_SKIPPED_BECAUSE",
    "POSTGRES_URL",
    "count_report",
    "note_running",
    "requires_postgres",
    "reset_postgres",
    "summary_line",
]

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
_outcomes: Counter[str] = Counter()
_asked: set[str] = set()  # node ids of the tests that asked for the server
_running: list[str] = [""]  # the node id of the test being run


def requires_postgres() -> str:
    """The PostgreSQL URL, or skip (with the reason) when the variants are off.

    Either way the running test counts as a PostgreSQL variant in the summary: every
    test that uses the server gets its URL from here (or is marked `integration`).
    """
    _asked.add(_running[0])
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


def note_running(nodeid: str) -> None:
    _running[0] = nodeid


def count_report(report: pytest.TestReport) -> None:
    """Tally a PostgreSQL variant's outcome: its call, or a setup that skipped or failed it."""
    if report.nodeid not in _asked and "integration" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _outcomes[report.outcome] += 1


def summary_line() -> tuple[str, int] | None:
    """How many PostgreSQL variants ran or skipped, and why they skipped (the line and the
    number skipped); None if there were none."""
    ran = _outcomes["passed"] + _outcomes["failed"]
    skipped = _outcomes["skipped"]
    if not ran and not skipped:
        return None
    where = make_url(POSTGRES_URL).render_as_string(hide_password=True) if POSTGRES_URL else "-"
    line = f"PostgreSQL variants: {ran} ran ({_outcomes['failed']} failed) on {where}, {skipped} skipped"
    if skipped and not POSTGRES_URL:
        line += f": {POSTGRES_SKIPPED_BECAUSE}"
    return line, skipped
