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
- **The pool's connection.** Each call checks a connection out of the engine's own
  pool and returns it at once: the pool's size, overflow and timeout, its check-out
  events (the ping of a connection idle for a while, `engines._ping_when_idle`),
  its recycling and its invalidation all apply as to any other statement.
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

from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Select
from sqlalchemy.util import await_, greenlet_spawn

from cloudtaskhub.db.compiled import CompiledStatements, bind, processed

__all__ = ["PgReader", "pg_reader_for"]


class PgReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sync_engine = engine.sync_engine
        self._dialect = engine.sync_engine.dialect
        self._error: type[Exception] = self._dialect.loaded_dbapi.Error
        self._compiled = CompiledStatements(self._dialect)

    async def rows(
        self, statement: Select[Any], parameters: Mapping[str, Any] | None = None
    ) -> Sequence[Any]:
        """The statement's rows, each read by position (an asyncpg `Record` or a tuple)."""
        compiled = self._compiled[statement]
        rows: Sequence[Any] = await greenlet_spawn(self._fetch, compiled.sql, bind(compiled, parameters))
        return rows if compiled.results is None else processed(rows, compiled.results)

    def _fetch(self, sql: str, values: list[Any]) -> Any:
        """Check out, fetch, check in; runs in a greenlet (`await_` for the pool's I/O and the query)."""
        try:
            # The engine's current pool (`dispose()` replaces it).
            fairy = self._sync_engine.pool.connect()
        except self._error as error:  # could not connect: wrapped as `Engine.connect` wraps it
            disconnect = bool(self._dialect.is_disconnect(error, None, None))  # type: ignore[arg-type]
            raise DBAPIError.instance(
                None, None, error, self._error, connection_invalidated=disconnect, dialect=self._dialect
            ) from error
        try:
            rows = await_(fairy.dbapi_connection._connection.fetch(sql, *values))  # type: ignore[union-attr]
        except BaseException as error:
            self._failed(fairy, error, sql, values)
        fairy.close()
        return rows

    def _failed(
        self, fairy: PoolProxiedConnection, error: BaseException, sql: str, values: list[Any]
    ) -> NoReturn:
        """Return or invalidate the connection as SQLAlchemy would, and raise what it would."""
        adapted: Any = fairy.dbapi_connection
        if not isinstance(error, Exception):
            # Cancelled mid-statement: the connection's state is unknown.
            fairy.invalidate(error)
            raise error
        gone = bool(adapted._connection.is_closed())
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


def pg_reader_for(url: str, engine: AsyncEngine) -> PgReader | None:
    """A reader for a PostgreSQL engine on asyncpg; None for any other."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() != "asyncpg":
        return None
    return PgReader(engine)
