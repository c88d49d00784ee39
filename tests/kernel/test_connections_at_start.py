"""A process opens its PostgreSQL connections before it reports ready
(`CTH_DB_CONNECTIONS_AT_START`): a new task's first requests must not wait for a host-name
lookup and a connection handshake, which took seconds under Swarm while a deploy ran."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

from cloudtaskhub.testing import ModuleHarness
from modules.project import module as project
from tests.support.postgres import requires_postgres, reset_postgres


async def backends(url: str) -> int:
    """Connections to the database other than this probe's own."""
    probe = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=5)
    try:
        return int(
            await probe.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await probe.close()


@contextlib.asynccontextmanager
async def started(tmp_path: Path, count: int) -> AsyncIterator[tuple[ModuleHarness, int]]:
    """The project module started on PostgreSQL; the harness and its pool's connections."""
    url = requires_postgres()
    await reset_postgres(url)
    async with ModuleHarness(
        [project], database_url=url, data_dir=str(tmp_path), db_connections_at_start=count
    ) as harness:
        pool = harness.runtime.modules["project"].engine.pool
        yield harness, pool.checkedin() + pool.checkedout()  # type: ignore[attr-defined]


async def test_the_pool_holds_its_start_connections_once_the_process_has_started(tmp_path: Path) -> None:
    async with started(tmp_path, 3) as (harness, pooled):
        assert pooled >= 3
        assert await backends(requires_postgres()) >= 3
        response = await harness.get("/health/ready")
        assert response.status_code == 200, response.text


async def test_with_none_asked_the_pool_opens_only_what_start_needs(tmp_path: Path) -> None:
    async with started(tmp_path, 0) as (_, pooled):
        assert pooled < 3


async def test_sqlite_opens_nothing_more_at_start(tmp_path: Path) -> None:
    async with ModuleHarness(
        [project], database_url=f"sqlite+aiosqlite:///{tmp_path}/a.db", data_dir=str(tmp_path)
    ) as harness:
        assert harness.runtime.modules["project"].engine.pool.checkedin() <= 1  # type: ignore[attr-defined]
