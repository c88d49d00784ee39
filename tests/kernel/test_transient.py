"""Transient or not, by cause: each rule of `cloudtaskhub.events.transient` against an
error the driver really raised (a deadlock, a serialization failure, a pool timeout,
a locked SQLite file), and a schema error that must be dead-lettered, not retried."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cloudtaskhub.events.dispatcher import is_transient
from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.testing import test_settings as settings_for_tests
from tests.kernel.spine import Handled, consumer_module, publisher_module, record_pings
from tests.support.postgres import requires_postgres, reset_postgres


@pytest.fixture
async def postgres() -> AsyncIterator[AsyncEngine]:
    url = requires_postgres()
    await reset_postgres(url)
    engine = create_async_engine(url, pool_size=4, max_overflow=0, pool_timeout=0.2)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE account (id int PRIMARY KEY, balance int)"))
        await connection.execute(text("INSERT INTO account VALUES (1, 0), (2, 0)"))
    yield engine
    await engine.dispose()


async def _raised(*steps: Any) -> BaseException:
    results = await asyncio.gather(*steps, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1, results
    return errors[0]


async def _update_both(engine: AsyncEngine, first: int, second: int, ready: asyncio.Barrier) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE account SET balance = 1 WHERE id = :id"), {"id": first})
        await ready.wait()
        await connection.execute(text("UPDATE account SET balance = 2 WHERE id = :id"), {"id": second})


async def test_a_postgresql_deadlock_is_transient(postgres: AsyncEngine) -> None:
    ready = asyncio.Barrier(2)

    error = await _raised(_update_both(postgres, 1, 2, ready), _update_both(postgres, 2, 1, ready))

    assert "deadlock" in str(error)
    assert is_transient(error)


async def _read_then_write(
    engine: AsyncEngine, read: asyncio.Barrier, wrote: asyncio.Event, first: bool
) -> None:
    async with engine.connect() as connection:
        repeatable = await connection.execution_options(isolation_level="REPEATABLE READ")
        async with repeatable.begin():
            await repeatable.execute(text("SELECT balance FROM account WHERE id = 1"))
            await read.wait()
            if not first:
                await wrote.wait()
            await repeatable.execute(text("UPDATE account SET balance = balance + 1 WHERE id = 1"))
        wrote.set()


async def test_a_postgresql_serialization_failure_is_transient(postgres: AsyncEngine) -> None:
    read, wrote = asyncio.Barrier(2), asyncio.Event()

    error = await _raised(
        _read_then_write(postgres, read, wrote, True), _read_then_write(postgres, read, wrote, False)
    )

    assert "could not serialize" in str(error)
    assert is_transient(error)


async def test_a_pool_timeout_is_transient(postgres: AsyncEngine) -> None:
    held = [await postgres.connect() for _ in range(4)]
    try:
        with pytest.raises(SQLAlchemyTimeout) as raised:
            await postgres.connect()
    finally:
        for connection in held:
            await connection.close()

    assert is_transient(raised.value)


async def test_a_postgresql_schema_error_is_not_transient(postgres: AsyncEngine) -> None:
    with pytest.raises(DBAPIError) as raised:
        async with postgres.connect() as connection:
            await connection.execute(text("SELECT * FROM no_such_table"))

    assert not is_transient(raised.value)


async def test_a_locked_sqlite_database_is_transient(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}"
    holder = create_async_engine(url)
    waiter = create_async_engine(url, connect_args={"timeout": 0})
    try:
        async with holder.connect() as connection:
            await connection.exec_driver_sql("CREATE TABLE t (x int)")
            await connection.commit()
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
            with pytest.raises(OperationalError) as raised:
                async with waiter.connect() as other:
                    await other.exec_driver_sql("BEGIN IMMEDIATE")
            await connection.rollback()
    finally:
        await holder.dispose()
        await waiter.dispose()

    assert "locked" in str(raised.value)
    assert is_transient(raised.value)


async def test_a_missing_table_is_dead_lettered_after_the_attempt_budget(
    database_url: str, tmp_path: Path
) -> None:
    handled = Handled()

    async def query_a_dropped_table(_event: Any) -> None:
        async with reader.uow.transaction() as tx:
            await tx.session.execute(text("SELECT * FROM reader_dropped"))

    settings = settings_for_tests(database_url, str(tmp_path))
    modules = [
        publisher_module("pub"),
        consumer_module("reader", "pub", handled, before=query_a_dropped_table),
    ]
    runtime = Runtime(modules, settings, bus=InProcessBus(lanes=2))
    await runtime.start(background=False)
    reader = runtime.module("reader")
    try:
        await record_pings(runtime.module("pub"), [("key", 1)])
        await asyncio.wait_for(runtime.drain(), timeout=30)

        assert handled.attempts == settings.handler_max_attempts
        assert await reader.dead_letter_count() == 1
    finally:
        await runtime.stop()
