"""Hot reads on PostgreSQL, run on the asyncpg connection underneath the engine's pool.

Through SQLAlchemy's async connection a one-statement read pays, besides the query:
a cache key of the statement, an execution context, the autocommit isolation level
set on the connection and reset at check-in, the asyncpg adapter's cursor (its lock,
its own prepared-statement cache, a regex over the status message), a `CursorResult`,
a `Row` per row and the engine's tracing events — several times the query's own CPU
(py-spy, bench/profiles/pg-list-before.svg).

`PgReader.rows(statement, parameters)` keeps SQLAlchemy Core as the query layer and
the pool as the owner of connections, and drops the rest:

- **Compiled once** (`cloudtaskhub.db.compiled`): the SQL text with its `$n`
  parameters (and the casts the asyncpg dialect renders), their order and bind
  processors, the columns' result processors; each call only binds the values.
- **The pool's connections, kept between reads.** A read takes a connection the
  reader checked out of the engine's own pool and kept, and keeps it again after
  (at most `keep` of them, the most recently used first). Checking a connection
  out and in for every read, in a greenlet, cost a third of a read's CPU here:
  0.32 ms per read of the task page, 0.20 kept (`bench/pg_reads.py`).
  What the pool does at check-out still happens, at the reader's check-outs:
  - a kept connection unused for `PING_AFTER_IDLE_SECONDS` goes back to the pool,
    which pings it at its next check-out (`engines._ping_when_idle`);
  - one held for `RETURN_AFTER_SECONDS` goes back, so the pool's recycling and its
    invalidation of connections older than a disconnect reach it;
  - a disconnect met by the reader, or by any statement on the engine (its
    `handle_error` event), sends every kept connection back to be checked again;
  - more concurrent reads than `keep` check out more connections, within the pool's
    size and timeout, and return them at once.
  Kept connections count against the pool's size: `keep` is half of it.
- **asyncpg's prepared statement.** The SQL runs with `Connection.fetch` on the
  asyncpg connection the adapter wraps: asyncpg prepares it once per connection and
  keeps it in its statement cache (and re-prepares it itself if a schema change
  invalidated it). No transaction: outside one the statement commits on its own
  (autocommit), as `UnitOfWork.rows` ran it before, and reads the newest committed
  state — a client sees its own write on the next request.
- **Rows as asyncpg returns them** (`Record`s, read by position and sliced like
  tuples) when no column has a result processor (`cloudtaskhub.db.rows.plain`),
  else tuples with the processors applied.
- **Failures as SQLAlchemy handles them.** A driver error is translated by the
  adapter into the DB-API error SQLAlchemy would raise and wrapped the same way
  (`DBAPIError`, so problem+json maps it as before: a lost connection or an
  operational error answers 503). When the connection is gone (a terminated
  backend, a restart) it is invalidated together with every connection of the pool
  opened before it — SQLAlchemy's own reaction to a disconnect — so the next
  requests reconnect. A cancelled call (the client went away) invalidates its
  connection, whose state mid-statement is unknown, as SQLAlchemy does.

`UnitOfWork.rows` uses it outside a transaction and only while no spans are exported:
with an OTLP endpoint configured the statement goes through SQLAlchemy's execution,
whose cursor events make its database span.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, PoolProxiedConnection
from sqlalchemy.sql import Select
from sqlalchemy.util import greenlet_spawn

from cloudtaskhub.db.compiled import CompiledStatements, bind, processed

__all__ = ["LAST_USED", "PING_AFTER_IDLE_SECONDS", "RETURN_AFTER_SECONDS", "PgReader", "pg_reader_for"]

#: A pooled PostgreSQL connection idle longer than this is pinged before it is used.
PING_AFTER_IDLE_SECONDS = 2.0
#: A connection kept this long goes back to the pool (recycling, invalidation).
RETURN_AFTER_SECONDS = 30.0
#: In a connection record's `info`: when the reader last used a connection it gives
#: back, so the pool's check-in (`engines._ping_when_idle`) counts its idle time from then.
LAST_USED = "cloudtaskhub_last_used"


@dataclass(slots=True)
class _Kept:
    fairy: PoolProxiedConnection
    #: the pool it came from (`dispose()` replaces the engine's pool)
    pool: Pool
    #: the reader's generation when it was checked out (a disconnect starts a new one)
    generation: int
    checked_out: float
    used: float


class PgReader:
    def __init__(self, engine: AsyncEngine, *, keep: int) -> None:
        self.engine = engine
        self._sync_engine = engine.sync_engine
        self._dialect = engine.sync_engine.dialect
        self._error: type[Exception] = self._dialect.loaded_dbapi.Error
        self._compiled = CompiledStatements(self._dialect)
        self._keep = keep
        #: most recently used last
        self._kept: list[_Kept] = []
        #: kept connections to give back to the pool at the next check-out
        self._returning: list[_Kept] = []
        self._generation = 0
        event.listen(self._sync_engine, "handle_error", self._on_error)

    async def rows(
        self, statement: Select[Any], parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        """The statement's rows, each read by position (an asyncpg `Record` or a tuple)."""
        compiled = self._compiled[statement]
        rows: Sequence[Any] = await self._fetch(compiled.sql, bind(compiled, parameters))
        return rows if compiled.results is None else processed(rows, compiled.results)

    async def _fetch(self, sql: str, values: list[Any]) -> Any:
        kept = self._take()
        if kept is None:
            kept = await greenlet_spawn(self._check_out)
        connection = kept.fairy.dbapi_connection
        try:
            rows = await connection._connection.fetch(sql, *values)  # type: ignore[union-attr]
        except BaseException as error:
            await self._failed(kept, error, sql, values)
        await self._give_back(kept)
        return rows

    async def release(self) -> None:
        """Give every kept connection back to its pool (before the engine is disposed)."""
        self._returning += self._kept
        self._kept = []
        await greenlet_spawn(self._return_all)

    def _take(self) -> _Kept | None:
        """The most recently used kept connection, if it may be used without a check-out."""
        if not self._kept:
            return None
        kept = self._kept.pop()
        if (
            time.monotonic() - kept.used < PING_AFTER_IDLE_SECONDS
            and kept.generation == self._generation
            and kept.pool is self._sync_engine.pool
        ):
            return kept
        # The others were used before it: all go back to be checked at a check-out.
        self._returning += [*self._kept, kept]
        self._kept = []
        return None

    async def _give_back(self, kept: _Kept) -> None:
        now = time.monotonic()
        if (
            len(self._kept) < self._keep
            and kept.generation == self._generation
            and now - kept.checked_out < RETURN_AFTER_SECONDS
        ):
            kept.used = now
            self._kept.append(kept)
        else:
            self._returning.append(kept)
            await greenlet_spawn(self._return_all)

    def _return_all(self) -> None:
        """In a greenlet: the pool's check-in may do I/O (closing a connection it no longer keeps)."""
        returning, self._returning = self._returning, []
        for kept in returning:
            kept.fairy.info[LAST_USED] = kept.used
            kept.fairy.close()

    def _check_out(self) -> _Kept:
        """In a greenlet: the pool's I/O (connecting, pinging) runs through `await_`."""
        self._return_all()
        pool = self._sync_engine.pool  # the engine's current pool
        try:
            fairy = pool.connect()
        except self._error as error:  # could not connect: wrapped as `Engine.connect` wraps it
            disconnect = bool(self._dialect.is_disconnect(error, None, None))  # type: ignore[arg-type]
            raise DBAPIError.instance(
                None, None, error, self._error, connection_invalidated=disconnect, dialect=self._dialect
            ) from error
        now = time.monotonic()
        return _Kept(fairy, pool, self._generation, now, now)

    def _on_error(self, context: ExceptionContext) -> None:
        """Any statement on the engine that met a disconnect: the kept connections are suspect too."""
        if context.is_disconnect:
            self._generation += 1

    async def _failed(self, kept: _Kept, error: BaseException, sql: str, values: list[Any]) -> NoReturn:
        """Return or invalidate the connection as SQLAlchemy would, and raise what it would."""
        fairy = kept.fairy
        if not isinstance(error, Exception):
            # Cancelled mid-statement: the connection's state is unknown. Invalidated here,
            # outside a greenlet, SQLAlchemy terminates it at once.
            fairy.invalidate(error)
            raise error
        await greenlet_spawn(self._translate, fairy, error, sql, values)
        raise error  # not reached: `_translate` always raises

    def _translate(
        self, fairy: PoolProxiedConnection, error: Exception, sql: str, values: list[Any]
    ) -> NoReturn:
        adapted: Any = fairy.dbapi_connection
        gone = bool(adapted._connection.is_closed())
        if gone:
            self._generation += 1  # the server or the network dropped it: maybe all of them
        try:
            adapted._handle_exception(error)  # raises the adapter's DB-API error (or `error`)
        except self._error as translated:
            self._release(fairy, translated, gone=gone)
            raise DBAPIError.instance(
                sql,
                tuple(values),
                translated,
                self._error,
                connection_invalidated=gone,
                dialect=self._dialect,
            ) from error
        except BaseException:
            self._release(fairy, error, gone=gone)
            raise
        raise error  # not reached: `_handle_exception` always raises

    def _release(self, fairy: PoolProxiedConnection, error: BaseException, *, gone: bool) -> None:
        if gone:
            # This connection and every one opened before it are replaced at check-out.
            self._sync_engine.pool._invalidate(fairy, error)
        else:
            fairy.close()


def pg_reader_for(url: str, engine: AsyncEngine, *, keep: int) -> PgReader | None:
    """A reader for a PostgreSQL engine on asyncpg; None for any other."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() != "asyncpg":
        return None
    return PgReader(engine, keep=keep)
