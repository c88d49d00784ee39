"""The PostgreSQL hot reads run on the asyncpg connection under the pool
(`cloudtaskhub.db.pg_reader`), and a terminated backend costs at most one 503, never
a 500: the dead connection and the pool's older ones are replaced, the next read works."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from sqlalchemy import Integer, bindparam, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudtaskhub.db import Databases
from cloudtaskhub.db.pg_reader import PgReader
from cloudtaskhub.testing import ModuleHarness
from modules.project import module as project
from tests.support.postgres import requires_postgres, reset_postgres

if TYPE_CHECKING:
    from cloudtaskhub.testing import TestUser

API = "/api/v1"


async def terminate_other_backends(url: str) -> int:
    """pg_terminate_backend for every other connection to the database, as an operator
    or a failover would; returns how many."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"), timeout=5)
    try:
        killed = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    await asyncio.sleep(0.3)  # the backends exit and close their sockets
    return int(killed)


def count_sqlalchemy_statements(engine: AsyncEngine, into: list[str]) -> None:
    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        into.append(statement)


@pytest.fixture
async def postgres() -> str:
    url = requires_postgres()
    await reset_postgres(url)
    return url


@pytest.fixture
async def harness(postgres: str, tmp_path: Path) -> AsyncIterator[ModuleHarness]:
    async with ModuleHarness([project], database_url=postgres, data_dir=str(tmp_path)) as h:
        yield h


async def _team(harness: ModuleHarness) -> tuple[TestUser, str, str]:
    from tests.modules.project.factories import create_project, registered

    alice = await registered(harness, "alice@example.com", "Alice")
    apollo = await create_project(harness, alice, "Apollo")
    created = await harness.post(
        f"{API}/projects/{apollo['id']}/tasks", json={"title": "Launch", "labels": ["b", "a"]}, user=alice
    )
    assert created.status_code == 201, created.text
    return alice, apollo["id"], created.json()["id"]


async def test_the_hot_reads_run_on_the_asyncpg_connection_not_through_sqlalchemy(
    harness: ModuleHarness,
) -> None:
    alice, project_id, task_id = await _team(harness)
    module = harness.runtime.modules["project"]
    reader = module.uow.pg_reader
    assert isinstance(reader, PgReader)
    fetched: list[str] = []
    fetch = reader._fetch

    async def counting(sql: str, values: list[Any]) -> Any:
        fetched.append(sql)
        return await fetch(sql, values)

    reader._fetch = counting  # type: ignore[method-assign]
    through_sqlalchemy: list[str] = []
    count_sqlalchemy_statements(module.engine, through_sqlalchemy)
    await harness.settle()
    through_sqlalchemy.clear()

    page = await harness.get(f"{API}/projects/{project_id}/tasks?limit=20", user=alice)
    one = await harness.get(f"{API}/tasks/{task_id}", user=alice)
    projects = await harness.get(f"{API}/projects", user=alice)

    assert page.status_code == 200, page.text
    assert [t["labels"] for t in page.json()["items"]] == [["b", "a"]]
    assert one.status_code == 200
    assert one.json()["id"] == task_id
    assert one.headers["etag"]
    assert projects.status_code == 200
    assert [p["id"] for p in projects.json()["items"]] == [project_id]
    assert len(fetched) == 3
    assert [s for s in through_sqlalchemy if "project_tasks" in s or "project_projects" in s] == []

    # A non-member still gets 404 (no row, then the membership asked on its own, also on the reader).
    bob = harness.user("bob@example.com")
    assert (await harness.get(f"{API}/projects/{project_id}/tasks", user=bob)).status_code == 404
    assert (await harness.get(f"{API}/tasks/{task_id}", user=bob)).status_code == 404


async def test_a_terminated_backend_answers_503_at_most_once_never_500(
    harness: ModuleHarness, postgres: str
) -> None:
    alice, project_id, task_id = await _team(harness)
    path = f"{API}/projects/{project_id}/tasks?limit=20"
    reader = harness.runtime.modules["project"].uow.pg_reader
    assert isinstance(reader, PgReader)
    failures: list[BaseException] = []
    fetch = reader._fetch

    async def recording(sql: str, values: list[Any]) -> Any:
        try:
            return await fetch(sql, values)
        except BaseException as error:
            failures.append(error)
            raise

    reader._fetch = recording  # type: ignore[method-assign]
    assert (await harness.get(path, user=alice)).status_code == 200

    # The relay and the heartbeats share the pool: whichever meets a dead connection
    # first invalidates the pool, so a round may not reach the reader. A few rounds do.
    statuses: list[int] = []
    for _ in range(10):
        assert await terminate_other_backends(postgres) > 0
        first = await harness.get(path, user=alice)
        statuses.append(first.status_code)
        if first.status_code == 503:
            assert first.headers["content-type"].startswith("application/problem+json")
            assert first.json()["status"] == 503
        for _ in range(3):  # recovered: the next reads work
            assert (await harness.get(path, user=alice)).status_code == 200
        if failures:
            break
    assert 500 not in statuses
    assert failures, "no round met a dead connection in the reader"
    assert all(isinstance(f, DBAPIError) and f.connection_invalidated for f in failures), failures
    assert statuses[-1] == 503  # the read that met it answered like any other lost connection
    assert (await harness.get(f"{API}/tasks/{task_id}", user=alice)).status_code == 200


async def test_the_reader_invalidates_a_dead_connection_and_the_pool_reconnects(postgres: str) -> None:
    databases = Databases(pool_size=1)
    try:
        reader = databases.pg_reader(postgres)
        assert reader is not None
        statement = select(bindparam("n", type_=Integer) + 1)
        assert [tuple(r) for r in await reader.rows(statement, {"n": 1})] == [(2,)]
        pool = databases.engine(postgres).sync_engine.pool

        assert await terminate_other_backends(postgres) >= 1
        # Used a moment ago, so not pinged at check-out: the statement meets the dead
        # connection, which fails the way SQLAlchemy's own execution fails (a DBAPIError
        # marked connection_invalidated, which problem+json answers with 503).
        with pytest.raises(DBAPIError) as failure:
            await reader.rows(statement, {"n": 2})
        assert failure.value.connection_invalidated
        assert pool.checkedout() == 0  # given back (invalidated), not leaked

        assert [tuple(r) for r in await reader.rows(statement, {"n": 3})] == [(4,)]
    finally:
        await databases.dispose()


async def test_a_connection_that_cannot_be_opened_fails_as_sqlalchemy_wraps_it(postgres: str) -> None:
    databases = Databases(pool_size=1)
    try:
        reader = databases.pg_reader(postgres.rsplit("/", 1)[0] + "/cth_no_such_database")
        assert reader is not None
        with pytest.raises(DBAPIError):  # what `Engine.connect` raises, so problem+json maps it as before
            await reader.rows(select(bindparam("n", type_=Integer)), {"n": 1})
    finally:
        await databases.dispose()


async def test_reads_keep_their_connections_and_give_them_back_to_the_pool_when_asked(postgres: str) -> None:
    databases = Databases(pool_size=2)
    try:
        reader = databases.pg_reader(postgres)
        assert reader is not None
        pool = databases.engine(postgres).sync_engine.pool
        checkouts: list[object] = []
        event.listen(pool, "checkout", lambda *_: checkouts.append(1))
        statement = select(bindparam("n", type_=Integer) + 1)

        for n in range(20):
            assert [tuple(r) for r in await reader.rows(statement, {"n": n})] == [(n + 1,)]
        assert (len(checkouts), pool.checkedout()) == (1, 1)  # one connection, kept between reads

        # More reads at once than it keeps (2): the rest check out and go back at once.
        results = await asyncio.gather(*(reader.rows(statement, {"n": n}) for n in range(8)))
        assert [tuple(rows[0]) for rows in results] == [(n + 1,) for n in range(8)]
        assert pool.checkedout() == 2

        await reader.release()
        assert pool.checkedout() == 0
    finally:
        await databases.dispose()


async def test_a_kept_connection_left_idle_is_pinged_by_the_pool_before_its_next_read(
    postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cloudtaskhub.db import engines, pg_reader

    monkeypatch.setattr(pg_reader, "PING_AFTER_IDLE_SECONDS", 0.2)
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.2)
    databases = Databases(pool_size=1)
    try:
        reader = databases.pg_reader(postgres)
        assert reader is not None
        pool = databases.engine(postgres).sync_engine.pool
        pings: list[object] = []
        dialect = databases.engine(postgres).sync_engine.dialect
        do_ping = dialect.do_ping
        monkeypatch.setattr(dialect, "do_ping", lambda connection: pings.append(1) or do_ping(connection))
        statement = select(bindparam("n", type_=Integer) + 1)
        await reader.rows(statement, {"n": 1})
        await reader.rows(statement, {"n": 2})
        assert pings == []  # used a moment ago: no round trip

        await asyncio.sleep(0.3)
        assert await terminate_other_backends(postgres) == 1  # the kept connection, idle meanwhile
        # Idle past the bound: back to the pool, whose check-out pings it, finds it dead
        # and opens another — the read works, no error reaches the caller.
        assert [tuple(r) for r in await reader.rows(statement, {"n": 3})] == [(4,)]
        assert pings
        assert pool.checkedout() == 1
    finally:
        await databases.dispose()


async def test_a_disconnect_met_by_another_statement_sends_the_kept_connections_back(postgres: str) -> None:
    databases = Databases(pool_size=1)
    try:
        reader = databases.pg_reader(postgres)
        assert reader is not None
        engine = databases.engine(postgres)
        statement = select(bindparam("n", type_=Integer) + 1)
        async with engine.connect() as connection:  # a second pooled connection, for the statement
            await connection.exec_driver_sql("SELECT 1")
            await reader.rows(statement, {"n": 1})  # kept
            assert await terminate_other_backends(postgres) == 2
            with pytest.raises(DBAPIError) as failure:
                await connection.exec_driver_sql("SELECT 1")
            assert failure.value.connection_invalidated

        # The reader never met the dead connection it kept: the engine's disconnect sent it
        # back, and the pool replaced it (older than the disconnect) at the check-out.
        assert [tuple(r) for r in await reader.rows(statement, {"n": 2})] == [(3,)]
    finally:
        await databases.dispose()
