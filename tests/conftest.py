"""Shared fixtures: the database every module test runs on (SQLite, and PostgreSQL
when CTH_TEST_DATABASE_URL points at a server)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_URL = os.environ.get("CTH_TEST_DATABASE_URL", "")


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("CTH_TEST_DATABASE_URL not set")
    await reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL


async def reset_postgres(url: str) -> None:
    """An empty public schema, so each test starts from nothing."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
