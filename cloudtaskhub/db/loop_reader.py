"""Short SQLite reads on the event loop, through a stdlib `sqlite3` connection.

aiosqlite runs every statement on a worker thread and hands the result back to the
loop: two thread switches and a queue per statement. For the short, indexed reads
of the hot endpoints (a page of tasks, one task, a dashboard) that hop costs more
than the query itself — a prototype of the task list served 0.30× a bare Litestar
endpoint through aiosqlite and 0.64× with the statement run on the loop.

`LoopReader.rows(statement)` runs a Core statement on the loop thread, on a
read-only connection to the same database file:

- **Read-your-writes.** The file is in WAL mode and this connection is in
  autocommit: each statement reads the newest committed state, so a client sees
  its own write (committed before its response was sent) on the next request.
- **A slow query.** While a statement runs here, the loop serves nobody else. A
  progress handler therefore interrupts any statement still running after
  `budget_seconds` (5 ms by default, wall clock: a page of 20 tasks takes well under
  a millisecond, so only a statement that is really slow — or a process preempted
  for that long on a busy machine — reaches it); the caller then runs it again off
  the loop, through the pooled aiosqlite engine, and the loop has lost at most that
  budget. (The thread's CPU clock would ignore preemption, but reading it is a
  system call that cost over a millisecond under load here.)
  A statement that waits on a lock (SQLITE_BUSY: a WAL recovery, another process
  holding an exclusive lock) fails at once here (`busy_timeout=0`) and goes the
  same way, so the loop never sleeps in SQLite's busy handler.
- **Never a write.** `PRAGMA query_only` makes SQLite refuse any write on this
  connection; writes keep going through the unit of work and its write lock.
- **Compiled once, run on the driver.** A statement is compiled by SQLAlchemy once
  (per statement object: the hot statements are built once and kept) into its SQL,
  the order of its parameters, their bind processors and the result processors of
  its columns; each call then binds the values and runs the SQL on the `sqlite3`
  connection directly. The values are what SQLAlchemy's own execution would give
  (the same processors run), without its per-call execution context, cursor result
  and `Row` objects, which cost several times the query itself. Rows come back as
  tuples. A column wrapped in `cloudtaskhub.db.rows.plain` has no result processor:
  its value is what the driver returned. While spans are exported (an OTLP endpoint
  is configured) the statement goes through SQLAlchemy's execution instead, whose
  cursor events give it its database span.

It is only built for a SQLite database *file* (an in-memory database is private
to one connection) and only used outside a transaction: inside one, reads go
through the transaction's own session and see its uncommitted writes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import Executable, Select

from cloudtaskhub.db.compiled import CompiledStatements, bind, processed
from cloudtaskhub.metrics import DB_LOOP_READS_MOVED
from cloudtaskhub.telemetry._tracing import exporting

__all__ = ["LoopReader", "NotOnTheLoop", "loop_reader_for"]

#: How long a statement may hold the event loop before it is moved off it.
DEFAULT_BUDGET_SECONDS = 0.005
#: SQLite calls the progress handler every this many virtual-machine instructions
#: (some tens of microseconds of work; a page of 20 tasks takes a few calls).
_PROGRESS_STEPS = 2000


class NotOnTheLoop(Exception):
    """This statement must run off the loop: too slow for the budget, or the file is locked."""


class LoopReader:
    def __init__(
        self, engine: Engine, *, cache_kib: int = 512, budget_seconds: float = DEFAULT_BUDGET_SECONDS
    ) -> None:
        self.engine = engine
        self.budget_seconds = budget_seconds
        self._cache_kib = cache_kib
        self._deadline = 0.0
        self._compiled = CompiledStatements(engine.dialect)
        self._connection: sqlite3.Connection | None = None
        event.listen(engine, "connect", self._on_connect)

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit: every statement sees the newest commit
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only=ON")
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.execute(f"PRAGMA cache_size=-{self._cache_kib}")  # as bounded as the pool's
        cursor.close()
        dbapi_connection.set_progress_handler(self._over_budget, _PROGRESS_STEPS)

    def _over_budget(self) -> int:
        # Non-zero interrupts the statement ("interrupted"): the caller reruns it off the loop.
        return 1 if time.perf_counter() > self._deadline else 0

    def rows(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Sequence[Any]]:
        """The statement's rows (tuples), read on the calling (loop) thread; NotOnTheLoop otherwise."""
        if not isinstance(statement, Select):
            raise TypeError("only a SELECT runs on the loop")
        if exporting():
            # Traced: through SQLAlchemy's execution, whose cursor events make the span.
            return self._traced(statement, parameters)
        compiled = self._compiled[statement]
        bound = bind(compiled, parameters)
        connection = self._connection or self._connect()
        self._deadline = time.perf_counter() + self.budget_seconds
        try:
            rows = connection.execute(compiled.sql, bound).fetchall()
        except sqlite3.OperationalError as error:
            # "interrupted" (over budget) or "database is locked" (busy): both go off the loop.
            reason = "slow" if "interrupt" in str(error) else "busy"
            DB_LOOP_READS_MOVED.labels(reason).inc()
            raise NotOnTheLoop(reason) from error
        return rows if compiled.results is None else processed(rows, compiled.results)

    def _traced(
        self, statement: Select[Any], parameters: Mapping[str, Any] | None
    ) -> Sequence[Sequence[Any]]:
        self._deadline = time.perf_counter() + self.budget_seconds
        try:
            with self.engine.connect() as connection:
                return connection.execute(statement, parameters).all()
        except OperationalError as error:
            reason = "slow" if "interrupt" in str(error.orig) else "busy"
            DB_LOOP_READS_MOVED.labels(reason).inc()
            raise NotOnTheLoop(reason) from error

    def _connect(self) -> sqlite3.Connection:
        # The pool's one connection (configured by `_on_connect`), kept checked out.
        self._fairy = self.engine.raw_connection()
        connection: sqlite3.Connection = self._fairy.driver_connection  # type: ignore[assignment]
        self._connection = connection
        return connection

    def dispose(self) -> None:
        if self._connection is not None:
            self._fairy.close()
            self._connection = None
        self.engine.dispose()


def loop_reader_for(url: str, *, cache_kib: int = 512) -> LoopReader | None:
    """A reader for a SQLite database file; None for PostgreSQL or an in-memory SQLite database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if "mode=memory" in str(parsed.query):
        return None
    engine = create_engine(
        parsed.set(drivername="sqlite"),
        # One connection, used only by the loop thread and only between awaits: a
        # statement always runs to completion before the next one starts.
        poolclass=StaticPool,
        connect_args={"check_same_thread": False},
    )
    return LoopReader(engine, cache_kib=cache_kib)
