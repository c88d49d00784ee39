"""SQLite statements through the one-hop aiosqlite cursor (cloudtaskhub/db/one_hop.py):
the results SQLAlchemy's own adapter gives, in one worker-thread call per statement,
and a write transaction's statements on the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudtaskhub.db.engines import OFF_THE_LOOP, READ_ONLY, Databases, queued_writes
from cloudtaskhub.db.one_hop import OneHopConnection


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    databases = Databases()
    engine = databases.engine(f"sqlite+aiosqlite:///{tmp_path / 'one-hop.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield engine
    await databases.dispose()


async def test_statements_give_rows_counts_and_errors_as_before(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        returned = await connection.execute(text("INSERT INTO t (v) VALUES ('a'), ('b') RETURNING id, v"))
        assert returned.all() == [(1, "a"), (2, "b")]
        inserted = await connection.execute(text("INSERT INTO t (v) VALUES ('c')"))
        assert (inserted.rowcount, inserted.lastrowid) == (1, 3)
        many = await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "d"}, {"v": "e"}])
        assert many.rowcount == 2
        updated = await connection.execute(text("UPDATE t SET v = v || '!' WHERE id > 3"))
        assert updated.rowcount == 2
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
        assert rows == [(1, "a"), (2, "b"), (3, "c"), (4, "d!"), (5, "e!")]
        assert (await connection.execute(text("SELECT v FROM t WHERE id = 99"))).first() is None
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('a')"))
    async with engine.connect() as connection:  # the failed transaction left nothing behind
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar() == 5


def _count_worker_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of every call made on an aiosqlite worker thread."""
    calls: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return calls


async def test_a_read_is_one_call_on_the_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.connect() as connection:
        await connection.execution_options(**{READ_ONLY: True})
        await connection.execute(text("SELECT 1"))  # connected and warmed up
        calls = _count_worker_calls(monkeypatch)
        rows = (await connection.execute(text("SELECT id FROM t"))).all()
        assert rows == []
        assert len(calls) == 1
        await connection.execute(text("SELECT id FROM t WHERE id = 1"))
        assert len(calls) == 2


async def _warm_up(engine: AsyncEngine) -> None:
    """A pooled connection opened and used once, so what follows counts only its own calls."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        await connection.commit()


async def _warm_up_two(engine: AsyncEngine) -> None:
    """Two pooled connections opened (read-only: neither takes the write lock)."""
    async with engine.connect() as one, engine.connect() as two:
        for connection in (one, two):
            await connection.execution_options(**{READ_ONLY: True})
            await connection.execute(text("SELECT 1"))


async def _holding_writer(engine: AsyncEngine, value: str) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A write transaction that inserts `value` and holds the write lock until the returned
    event is set; returned once it holds it."""
    holding, release = asyncio.Event(), asyncio.Event()

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
            holding.set()
            await release.wait()

    writer = asyncio.create_task(write())
    await holding.wait()
    return writer, release


def _other_writer(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "one-hop.db", timeout=0, isolation_level=None)


async def test_a_write_transaction_runs_on_the_loop_and_holds_the_write_lock_from_its_first_statement(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _warm_up(engine)
    calls = _count_worker_calls(monkeypatch)

    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('x')"))
        other = _other_writer(tmp_path)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    assert calls == []  # BEGIN IMMEDIATE, the INSERT and the COMMIT ran on the loop thread

    async with engine.begin():
        pass  # a transaction that ran nothing has nothing to commit
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT v FROM t"))).scalars().all() == ["x"]
    assert calls == []


async def test_a_write_transaction_marked_long_runs_on_the_worker_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_worker_calls(monkeypatch)
    async with engine.connect() as connection:
        await connection.execution_options(**{OFF_THE_LOOP: True})
        await connection.execute(text("INSERT INTO t (v) VALUES ('x')"))
        await connection.commit()
    assert calls[-2:] == ["_run", "commit"]  # BEGIN with the INSERT, then the COMMIT


async def test_a_write_lock_held_by_another_process_is_waited_for_off_the_loop(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _warm_up(engine)
    other = _other_writer(tmp_path)
    other.execute("BEGIN IMMEDIATE")
    calls = _count_worker_calls(monkeypatch)

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('waited')"))

    writing = asyncio.create_task(write())
    ticks = 0
    for _ in range(20):  # the loop keeps running while the writer waits for the lock
        await asyncio.sleep(0.01)
        ticks += 1
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writing, timeout=10)
    assert ticks == 20
    assert "_run" in calls  # the transaction went to the worker thread, which waited
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT v FROM t"))).scalars().all() == ["waited"]


async def test_a_long_write_transaction_lets_the_loop_run_others(engine: AsyncEngine) -> None:
    ticks = 0
    finished = False

    async def tick() -> None:
        nonlocal ticks
        while not finished:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    async with engine.begin() as connection:
        before = ticks
        for number in range(3000):  # a few hundred milliseconds of statements on the loop
            await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": str(number)})
        during = ticks - before
    finished = True
    await ticker
    assert during > 0


async def test_a_transaction_that_fails_leaves_nothing_and_the_next_one_begins_cleanly(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('y')"))
            await connection.execute(text("INSERT INTO t (v) VALUES ('y')"))
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:  # fails on its first statement, with its BEGIN
            await connection.execute(text("INSERT INTO t (id, v) VALUES (NULL, NULL), (1, 'z'), (1, 'w')"))
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('y')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT v FROM t"))).scalars().all() == ["y"]


async def test_a_transaction_begun_while_the_worker_thread_still_runs_a_call_waits_behind_it(
    engine: AsyncEngine,
) -> None:
    """A call whose caller stopped waiting still holds the `sqlite3` connection on the worker
    thread; a write transaction begun meanwhile must not run on the loop beside it, where
    it would wait on the connection's mutex with the loop stopped."""
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        one_hop = raw.dbapi_connection
        assert isinstance(one_hop, OneHopConnection)
        await connection.execute(text("SELECT 1"))
        await connection.commit()
        # Seconds of SQLite work on the worker thread, the caller already gone.
        slow = (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 4000000) "
            "SELECT count(*) FROM c"
        )
        sqlite_connection = one_hop._connection._conn
        running = asyncio.ensure_future(one_hop.on_worker(lambda: sqlite_connection.execute(slow).fetchall()))
        await asyncio.sleep(0.05)  # the worker thread is inside SQLite now

        async def write() -> None:
            await connection.execute(text("INSERT INTO t (v) VALUES ('behind')"))
            await connection.commit()

        writing = asyncio.create_task(write())
        ticks = 0
        while not writing.done():  # the loop keeps running while the write waits its turn
            await asyncio.sleep(0.01)
            ticks += 1
        await writing
        assert one_hop._worker_done is not None
        assert one_hop._worker_done.is_set()
        assert ticks >= 5
        await running
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT v FROM t"))).scalars().all() == ["behind"]


async def test_queued_writes_returns_once_the_writers_queued_before_it_have_committed(
    engine: AsyncEngine,
) -> None:
    await _warm_up_two(engine)  # so the second writer takes a pooled connection, no I/O
    first, release = await _holding_writer(engine, "first")

    async def second() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('second')"))

    writers = [first, asyncio.create_task(second())]
    for _ in range(5):
        await asyncio.sleep(0)  # the second writer queues on the write lock
    waiting = asyncio.create_task(queued_writes(engine, within=30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    release.set()
    await waiting

    async with engine.connect() as connection:
        committed = (await connection.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert committed == ["first", "second"]
    await asyncio.gather(*writers)


async def test_queued_writes_waits_no_longer_than_asked_for_a_long_writer(engine: AsyncEngine) -> None:
    await asyncio.wait_for(queued_writes(engine, within=30), timeout=1)  # no writer: at once
    writer, release = await _holding_writer(engine, "long")
    await asyncio.wait_for(queued_writes(engine, within=0.05), timeout=5)
    assert not writer.done()
    release.set()
    await writer
    # The lock was given back: the next writer begins at once.
    async with asyncio.timeout(5), engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('next')"))


async def test_a_writer_that_waits_past_the_lock_timeout_fails_as_sqlite_would_and_leaks_no_lock(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("cloudtaskhub.db.engines.WRITE_LOCK_TIMEOUT_SECONDS", 0.1)
    writer, release = await _holding_writer(engine, "long")
    with pytest.raises(OperationalError, match="database is locked"):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (v) VALUES ('late')"))
    release.set()
    await writer
    async with asyncio.timeout(5), engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES ('next')"))
    async with engine.connect() as connection:
        committed = (await connection.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert committed == ["long", "next"]
