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
the same transaction handling (`BEGIN IMMEDIATE` by our `begin` listener, commit and
rollback as one call each).
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

__all__ = ["OneHopAiosqlite"]

_Outcome = tuple[Any, int, int | None, list[Any] | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """One statement, start to end, on the connection's worker thread."""
    cursor = connection.cursor()
    try:
        cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _run_many(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    cursor = connection.cursor()
    try:
        cursor.executemany(operation, parameters)
        return cursor.description, cursor.rowcount, cursor.lastrowid, None
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
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await self._connection._execute(
                _run, self._connection._conn, operation, parameters
            )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows or ())
        return self

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await self._connection._execute(
                _run_many, self._connection._conn, operation, seq_of_parameters
            )
        self._description, self._rowcount, self._lastrowid, _ = outcome
        self._rows = collections.deque()
        return self

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneHopCursor


class OneHopAiosqlite(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DB-API shim, handing out one-hop cursors."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> _OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return _OneHopConnection(self, adapted._connection)
