"""Async engines, one per distinct URL, shared by the modules that use it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.expression import TableClause
from sqlalchemy.util import await_only

from cloudtaskhub.db.loop_reader import LoopReader, loop_reader_for
from cloudtaskhub.db.one_hop import BUSY_TIMEOUT_MS, OneHopAiosqlite, OneHopConnection
from cloudtaskhub.db.pg_reader import LAST_USED, PING_AFTER_IDLE_SECONDS, PgReader, pg_reader_for

__all__ = [
    "OFF_THE_LOOP",
    "READ_ONLY",
    "Databases",
    "DialectInsert",
    "dialect_insert",
    "is_postgres",
    "is_sqlite",
    "queued_writes",
]

#: Connection execution option marking a transaction that only reads.
READ_ONLY = "cloudtaskhub_read_only"
#: Connection execution option marking a write transaction that may run long (a purge, a
#: replay): on SQLite its statements run on the worker thread, not the loop (`one_hop`).
OFF_THE_LOOP = "cloudtaskhub_off_the_loop"
#: As long as the busy timeout: a writer waiting longer fails as SQLite would.
WRITE_LOCK_TIMEOUT_SECONDS = 30.0
_HOLDS_WRITE_LOCK = "cloudtaskhub_holds_write_lock"
#: Each SQLite engine's write lock (`_configure_sqlite`), for `queued_writes`.
_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, asyncio.Lock] = weakref.WeakKeyDictionary()


def is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


#: The INSERT of the dialects the kernel runs on, with their ON CONFLICT clauses.
DialectInsert = postgresql.Insert | sqlite.Insert


def dialect_insert(
    bind: AsyncSession | AsyncConnection | AsyncEngine, table: TableClause | type[Any]
) -> DialectInsert:
    """`INSERT INTO table` in the SQL dialect `bind` speaks, for its ON CONFLICT clauses
    (`on_conflict_do_nothing`, `on_conflict_do_update`): the generic `insert` has none.

    Raises NotImplementedError on a dialect other than the two the kernel runs on.
    """
    dialect = (bind.get_bind() if isinstance(bind, AsyncSession) else bind).dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT for the {dialect} dialect")


async def queued_writes(engine: AsyncEngine, *, within: float) -> None:
    """Wait until the write transactions queued now on this process's SQLite write lock
    have committed, for at most `within` seconds; at once on PostgreSQL, or when no
    writer holds the lock.

    For a reader that collects what writers commit (the outbox relay): under load,
    reading once the queued writers are through finds their rows together, instead of
    reading after every commit (`cloudtaskhub.events.relay`). The lock is taken and
    given back at once: the caller holds up no writer.
    """
    lock = _WRITE_LOCKS.get(engine.sync_engine)
    if lock is None or not lock.locked():
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            await lock.acquire()
            lock.release()


def _configure_sqlite(engine: AsyncEngine, cache_kib: int) -> None:
    """WAL, a busy timeout, a bounded page cache, and `BEGIN IMMEDIATE` behind an
    in-process write lock.

    pysqlite's deferred transactions upgrade a read lock to a write lock late and
    fail at once with "database is locked" when another connection writes; taking
    the write lock at BEGIN makes concurrent writers queue instead (SQLAlchemy's
    documented recipe for serializable SQLite). Writers of this process queue on
    an asyncio lock first: SQLite's busy handler polls with sleeps of up to 100 ms,
    so under load most of a write transaction's time was spent asleep waiting for
    a lock released long before. The busy timeout still orders us against other
    processes.

    Each connection keeps its own page cache, filled as the database grows: at
    SQLite's default of 2 MiB per connection, a soak's resident memory kept rising
    for as long as it ran; at 512 KiB it levels off within minutes (README,
    "Reliability and security").
    """
    sync_engine = engine.sync_engine
    write_lock = _WRITE_LOCKS[sync_engine] = asyncio.Lock()

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA cache_size=-{cache_kib}")  # negative: KiB, not pages
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Read-only sessions (`UnitOfWork.read`) begin DEFERRED: in WAL mode readers
        # never wait for the write lock, so queries do not queue behind writers (or
        # each other) on the busy timeout.
        if connection.get_execution_options().get(READ_ONLY):
            _begin(connection, "BEGIN")
            return
        if not connection.info.get(_HOLDS_WRITE_LOCK):
            await_only(_acquire(write_lock))
            connection.info[_HOLDS_WRITE_LOCK] = True
        long = connection.get_execution_options().get(OFF_THE_LOOP, False)
        _begin(connection, "BEGIN IMMEDIATE", on_loop=not long)

    @event.listens_for(sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        # Released only once the connection is back in the pool: the commit (or the
        # pool's reset rollback) has run, so the next writer's BEGIN IMMEDIATE succeeds.
        if record is not None and record.info.pop(_HOLDS_WRITE_LOCK, False):
            write_lock.release()


async def _acquire(write_lock: asyncio.Lock) -> None:
    """Take the write lock, waiting at most `WRITE_LOCK_TIMEOUT_SECONDS` for it: a timer,
    not a task (`asyncio.wait_for` made one per transaction, ~4 % of a one-INSERT write
    transaction's CPU)."""
    try:
        async with asyncio.timeout(WRITE_LOCK_TIMEOUT_SECONDS):
            await write_lock.acquire()
    except TimeoutError:
        raise OperationalError("BEGIN IMMEDIATE", None, Exception("database is locked")) from None


def _begin(connection: Any, begin: str, *, on_loop: bool = False) -> None:
    """`begin` with the transaction's first statement on a one-hop connection (one worker
    thread call saved: `cloudtaskhub.db.one_hop`), else now. `on_loop`: a write
    transaction, whose statements run on the event loop (see `one_hop`)."""
    adapted = connection.connection.dbapi_connection
    if isinstance(adapted, OneHopConnection):
        adapted.begin_with_next(begin, on_loop=on_loop)
    else:
        connection.exec_driver_sql(begin)


_IDLE_SINCE = "cloudtaskhub_idle_since"


def _ping_when_idle(engine: AsyncEngine) -> None:
    """`pool_pre_ping`, for connections that sat idle: a round trip saved on a busy pool.

    SQLAlchemy's `pool_pre_ping` pings the server at every checkout — one more round
    trip for every one-statement read. A connection that was in use a moment ago is
    almost surely alive; one idle for a while may have been closed by the server, a
    proxy or a restart, and is pinged (and replaced if dead) before use, as
    pre-ping would. A connection killed within the last `PING_AFTER_IDLE_SECONDS`
    fails its statement instead: the request answers 503 (never 500), SQLAlchemy
    then invalidates the pool's older connections, and the next requests reconnect
    (tests/reliability/test_database_faults.py kills every backend under load).
    """
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            # Idle since its last statement: a connection the reader kept may have sat unused.
            record.info[_IDLE_SINCE] = record.info.pop(LAST_USED, None) or time.monotonic()

    @event.listens_for(sync_engine.pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and checks out another (or a new) one.
            raise DisconnectionError("pooled connection failed its ping") from error
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")


class Databases:
    """Engines and session factories keyed by URL; modules look theirs up by URL."""

    def __init__(self, *, pool_size: int = 10, sqlite_cache_kib: int = 512, echo: bool = False) -> None:
        self._engines: dict[str, AsyncEngine] = {}
        self._sessionmakers: dict[str, async_sessionmaker[AsyncSession]] = {}
        self._loop_readers: dict[str, LoopReader | None] = {}
        self._pg_readers: dict[str, PgReader | None] = {}
        self._pool_size = pool_size
        self._sqlite_cache_kib = sqlite_cache_kib
        self._echo = echo

    def engine(self, url: str) -> AsyncEngine:
        if url not in self._engines:
            self._engines[url] = self._create(url)
        return self._engines[url]

    def sessionmaker(self, url: str) -> async_sessionmaker[AsyncSession]:
        if url not in self._sessionmakers:
            self._sessionmakers[url] = async_sessionmaker(self.engine(url), expire_on_commit=False)
        return self._sessionmakers[url]

    def loop_reader(self, url: str) -> LoopReader | None:
        """Short reads on the event loop for a SQLite file (see `loop_reader`); else None."""
        if url not in self._loop_readers:
            self.engine(url)  # creates the file's directory, as the pool would
            self._loop_readers[url] = loop_reader_for(url, cache_kib=self._sqlite_cache_kib)
        return self._loop_readers[url]

    def pg_reader(self, url: str) -> PgReader | None:
        """Reads on the asyncpg connections of the URL's pool (see `pg_reader`); None but on PostgreSQL."""
        if url not in self._pg_readers:
            # Half the pool (2 * db_pool_size) may wait in the reader; writers have the rest.
            self._pg_readers[url] = pg_reader_for(url, self.engine(url), keep=max(1, self._pool_size))
        return self._pg_readers[url]

    def _create(self, url: str) -> AsyncEngine:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            # Every connection opened is kept (no overflow): a connection opened for a burst
            # and closed after it, again and again, started an aiosqlite thread and filled a
            # page cache and statement cache each time, and that churn fragmented the heap —
            # the 5-minute soak's RSS rose 2 MB/min while the memory in use stayed flat
            # (glibc: 35-40 MB in use throughout, free space inside the heap 3 -> 22 MB).
            # The bound is the one the pool had before: db_pool_size + 10 connections.
            # One worker-thread round trip per statement, not three or four (`one_hop`).
            driver = {"module": OneHopAiosqlite()} if parsed.get_driver_name() == "aiosqlite" else {}
            engine = create_async_engine(
                url,
                echo=self._echo,
                pool_size=self._pool_size + 10,
                max_overflow=0,
                pool_timeout=60,
                # Room for every statement a connection runs (Python's default keeps 128 per
                # connection): with all six modules on one pool a connection met more than
                # that, and evicting and preparing them again kept the heap growing (the
                # soak's second-half slope 0.99-2.09 MB/min with 128, 0.54 with 512 and
                # ~2,230 statements held in all).
                # check_same_thread: a write transaction runs on the loop thread, on the
                # connection aiosqlite opened on its worker thread (`one_hop`).
                connect_args={"cached_statements": 512, "check_same_thread": False},
                **driver,
            )
            _configure_sqlite(engine, self._sqlite_cache_kib)
            return engine
        # Every connection opened is kept here too (no overflow), up to the bound the pool had
        # before: db_pool_size kept plus as many again for bursts. With 16 requests in flight
        # the overflow connections were closed as they came back and opened again for the
        # next burst, 44-65 new backends in 5 s of the task list, each a connect, an
        # authentication and asyncpg's statements prepared again: ~12 % of the list's CPU
        # (bench/optimizations.json, "pg-pool-keeps-its-connections"). A connection idle for
        # half an hour is still replaced (`pool_recycle`), a dead one at check-out.
        engine = create_async_engine(
            url,
            echo=self._echo,
            pool_size=2 * self._pool_size,
            max_overflow=0,
            pool_recycle=1800,
        )
        _ping_when_idle(engine)
        return engine

    @property
    def engines(self) -> list[AsyncEngine]:
        return list(self._engines.values())

    @property
    def loop_readers(self) -> list[LoopReader]:
        return [reader for reader in self._loop_readers.values() if reader is not None]

    async def open_connections(self, count: int) -> None:
        """Open `count` connections in every PostgreSQL pool now; the pool keeps them.

        Opening a connection resolves the database's host name first. Under Swarm that is
        the engine's embedded DNS server, and while a stack deploy ran it took up to 3.2 s
        to answer (test bed, 2026-11-30; glibc asks again only after 5 s), so a request
        that had to open a connection waited as long: a task creation spent 3.7 s before
        its first statement. Opened here, before the process reports ready, a new task's
        first requests find their connections open. A burst beyond `count` still opens
        more on demand, up to the pool's bound. SQLite opens no network connection.
        """
        for engine in filter(is_postgres, self._engines.values()):
            # Held together, so the pool cannot hand the same connection out twice.
            async with contextlib.AsyncExitStack() as held:
                for _ in range(count):
                    await held.enter_async_context(engine.connect())

    async def dispose(self) -> None:
        for pg_reader in self._pg_readers.values():
            if pg_reader is not None:
                await pg_reader.release()
        for engine in self._engines.values():
            await engine.dispose()
        for reader in self._loop_readers.values():
            if reader is not None:
                reader.dispose()
        self._engines.clear()
        self._sessionmakers.clear()
        self._loop_readers.clear()
        self._pg_readers.clear()
