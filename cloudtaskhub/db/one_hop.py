"""aiosqlite with one thread hop per statement instead of three or four.

aiosqlite runs each call on its connection's worker thread and hands the result back
to the event loop: the calling side queues the call (waking the thread), the thread
answers through the loop's self-pipe (waking the loop). SQLAlchemy's aiosqlite
adapter makes one such call for each DB-API step of a statement — open a cursor,
execute, fetch the rows, close the cursor — so a statement costs three or four round
trips between the threads, each a few tens of microseconds of CPU on a quiet machine
and more when the two cores are busy (the GIL changes hands every time). A create
task, with the statements of the four in-process consumers and the relay it causes,
made well over a hundred of them.

`OneHopAiosqlite` is the DB-API module SQLAlchemy's aiosqlite dialect is given
(`create_async_engine(..., module=...)`): its cursors do all of a statement's steps
in one call on the worker thread (cursor, execute, description, rowcount, lastrowid,
every row, close) and keep the results on the loop side, which is what SQLAlchemy's
adapter does for a non-server-side cursor anyway (it fetches every row at once).
Nothing else changes: the same `sqlite3` connection and thread per pooled
connection, the same statements in the same order, the same exceptions (raised on
the worker thread, re-raised on the loop and translated by SQLAlchemy as before),
commit and rollback as one call each.

**A transaction's BEGIN goes with its first statement.** Our `begin` listener
(`cloudtaskhub.db.engines`) does not run `BEGIN IMMEDIATE` (or a read-only `BEGIN`)
as a call of its own: it hands it to the connection (`begin_with_next`), and the
next statement's call runs it first, on the worker thread, then the statement. A
write transaction of one INSERT was three calls (BEGIN, INSERT, COMMIT), each a wait
for the busy loop to come back while the process's write lock was held; it is two.
The BEGIN still precedes every statement of its transaction, and fails the same way
(it is raised by that first statement's call, which SQLAlchemy then rolls back). A
transaction that ran no statement has nothing to commit or roll back: its BEGIN is
dropped and the call saved.

**No call to end what is not open.** Each statement's call also reports whether a
transaction is open on the connection afterwards (`sqlite3.Connection.in_transaction`,
read on the worker thread), and so do commit and rollback by returning. The pool rolls
back every connection it takes back, after a commit too: that rollback found nothing
to do, yet it was a call of its own while the process's write lock was still held (the
lock is released at check-in). It is now skipped when nothing is open. A statement
that failed leaves the state unknown, and the rollback is made. A write transaction of
one INSERT went from four calls (BEGIN, INSERT, COMMIT, the pool's ROLLBACK) to two.

**A write transaction runs on the event loop.** Even one call per statement is most
of a short write's cost: a one-INSERT transaction took ~0.48 ms of CPU through the
worker thread and ~0.28 ms with its statements and COMMIT run on the loop thread, on
the same `sqlite3` connection (each further INSERT ~0.19 → ~0.085 ms; this machine,
`bench/optimizations.json`). The process's writers already take turns on one write
lock (`cloudtaskhub.db.engines`), so nothing else could have used the connection
meanwhile, and SQLite in WAL mode with `synchronous=NORMAL` commits without an
fsync. So the `BEGIN IMMEDIATE` of a write transaction (`begin_with_next(...,
on_loop=True)`), its statements, its COMMIT or ROLLBACK run on the loop thread:

- **Never a wait on the loop.** The BEGIN runs with `busy_timeout=0`: when another
  process holds the database's write lock it fails at once (nothing was done yet),
  and that transaction goes to the worker thread as before, where the BEGIN waits
  out the busy timeout. Once the BEGIN holds the lock, WAL-mode statements do not
  wait for other connections.
- **What a write transaction may hold the loop for.** Its statements are short,
  keyed writes and reads; while one runs, the loop serves nobody else, as during any
  Python work of the transaction. After each statement, once the transaction has held
  the loop for `LOOP_SLICE_SECONDS` (2 ms) it lets whatever else is ready run (after
  every statement cost a third of the gain). A write that may scan (the outbox purge,
  a replay of a whole log) says so: `OFF_THE_LOOP` on its connection, or
  `UnitOfWork.transaction(long=True)`, and runs on the worker thread as before. The
  WAL checkpoint SQLite runs after a commit that filled 1,000 pages writes them back
  to the database file on the loop too.
- **Never beside the worker thread.** A call the worker thread has not finished (one
  whose caller was cancelled: the thread runs it to its end) still holds the `sqlite3`
  connection; a transaction that begins meanwhile goes to the worker thread, behind it,
  so the loop never waits on the connection's mutex.
- Read-only transactions (`UnitOfWork.read`, `UnitOfWork.rows` when it is not on the
  loop reader) stay on the worker thread: their length is not bounded (the short hot
  reads have their own loop path with a time budget, `cloudtaskhub.db.loop_reader`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import sqlite3
import threading
import time
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import await_

__all__ = ["OneHopAiosqlite", "OneHopConnection"]

#: description, rowcount, lastrowid, rows, and whether a transaction is open after it
_Outcome = tuple[Any, int, int | None, list[Any] | None, bool]
#: How long a write transaction's statements may run on the loop before it lets others run.
LOOP_SLICE_SECONDS = 0.002
#: The busy timeout of every connection (`engines._configure_sqlite`), in milliseconds.
BUSY_TIMEOUT_MS = 30000


class _Busy(Exception):
    """The BEGIN found the write lock held by another process: nothing was done."""


def _begin_without_waiting(connection: sqlite3.Connection, begin: str) -> None:
    connection.execute("PRAGMA busy_timeout=0")
    try:
        connection.execute(begin)
    except sqlite3.OperationalError as error:
        if connection.in_transaction or "locked" not in str(error):
            raise
        raise _Busy() from error
    finally:
        connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, begin: str | None) -> _Outcome:
    """One statement, start to end, on the connection's worker thread (after `begin`)."""
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, cursor.rowcount, cursor.lastrowid, rows, connection.in_transaction
    finally:
        cursor.close()


def _run_many(connection: sqlite3.Connection, operation: str, parameters: Any, begin: str | None) -> _Outcome:
    cursor = connection.cursor()
    try:
        if begin is not None:
            cursor.execute(begin)
        cursor.executemany(operation, parameters)
        return cursor.description, cursor.rowcount, cursor.lastrowid, None, connection.in_transaction
    finally:
        cursor.close()


class _OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A SQLAlchemy adapter cursor whose statement is one call on the worker thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor of its own (the base class opens one: a round trip).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        """Nothing to close: the `sqlite3` cursor was closed on the worker thread."""

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._call(_run, operation, parameters)
        return self

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._call(_run_many, operation, seq_of_parameters)
        return self

    async def _call(self, run: Any, operation: Any, parameters: Any) -> None:
        one_hop = cast(OneHopConnection, self._adapt_connection)
        if one_hop.on_loop:
            with contextlib.suppress(_Busy):
                self._keep(one_hop, one_hop.run_on_loop(run, operation, parameters))
                # A transaction of many statements would otherwise hold the loop from its
                # first to its last; letting others run after every statement cost a third
                # of a task creation's CPU, so they run once a slice of the loop has gone.
                if time.perf_counter() - one_hop.held_since > LOOP_SLICE_SECONDS:
                    await asyncio.sleep(0)
                    one_hop.held_since = time.perf_counter()
                return
        async with one_hop._execute_mutex:
            begin = one_hop.take_begin()
            try:
                outcome: _Outcome = await one_hop.on_worker(
                    run, self._connection._conn, operation, parameters, begin
                )
            except BaseException:
                one_hop.in_transaction = True  # not known: a rollback will tell
                raise
        self._keep(one_hop, outcome)

    def _keep(self, one_hop: OneHopConnection, outcome: _Outcome) -> None:
        self._description, self._rowcount, self._lastrowid, rows, one_hop.in_transaction = outcome
        self._rows = collections.deque(rows or ())

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """An adapter connection that knows whether a transaction is open on its `sqlite3`
    connection (each statement's call reports it), and so skips the calls that
    would find nothing to do."""

    __slots__ = ("_begin", "_worker_done", "held_since", "in_transaction", "on_loop")
    _cursor_cls = _OneHopCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._begin: str | None = None
        #: True until a statement's call or a commit or rollback says otherwise.
        self.in_transaction = True
        #: This transaction's statements, commit and rollback run on the loop thread.
        self.on_loop = False
        #: When this transaction last let the loop run others (`LOOP_SLICE_SECONDS`).
        self.held_since = 0.0
        #: Set on the worker thread when the last call queued to it has finished (calls run
        #: in order, so every earlier one has too); None before the first.
        self._worker_done: threading.Event | None = None

    def begin_with_next(self, begin: str, *, on_loop: bool = False) -> None:
        """Run `begin` (a BEGIN statement) in the next statement's call, just before it;
        with `on_loop`, that call and the rest of the transaction on the loop thread."""
        self._begin = begin
        worker_idle = self._worker_done is None or self._worker_done.is_set()
        self.on_loop = on_loop and worker_idle
        self.held_since = time.perf_counter()

    async def on_worker(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on the worker thread, noting when it has finished there."""
        done = self._worker_done = threading.Event()

        @functools.wraps(fn)
        def run(*arguments: Any) -> Any:
            try:
                return fn(*arguments)
            finally:
                done.set()

        return await self._connection._execute(run, *args)

    def run_on_loop(self, run: Any, operation: Any, parameters: Any) -> _Outcome:
        """One statement on the calling (loop) thread; `_Busy` (and off the loop from now
        on, the BEGIN kept for the worker thread) when its BEGIN would have to wait."""
        connection: sqlite3.Connection = self._connection._conn
        begin = self.take_begin()
        try:
            if begin is not None:
                _begin_without_waiting(connection, begin)
            outcome: _Outcome = run(connection, operation, parameters, None)
        except _Busy:
            self.on_loop = False
            self._begin = begin
            raise
        except BaseException:
            self.in_transaction = True  # not known: a rollback will tell
            raise
        return outcome

    def take_begin(self) -> str | None:
        begin, self._begin = self._begin, None
        return begin

    def commit(self) -> None:
        self._end("commit")

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back, after a commit too.
        self._end("rollback")

    def _end(self, end: str) -> None:
        """The `sqlite3` connection's `end` ("commit" or "rollback") if a transaction is
        open: on the loop thread for a transaction that ran there, else on the worker."""
        begun = self.take_begin() is None  # a BEGIN still waiting: no statement ran
        on_loop, self.on_loop = self.on_loop, False
        if begun and self.in_transaction:
            # If it fails, the state stays unknown (True).
            if on_loop:
                getattr(self._connection._conn, end)()
            elif self._connection._connection:  # not closed (as SQLAlchemy's adapter checks)
                try:
                    await_(self.on_worker(getattr(self._connection._conn, end)))
                except Exception as error:
                    self._handle_exception(error)
        self.in_transaction = False


class OneHopAiosqlite(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DB-API shim, handing out one-hop cursors."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)
