"""The unit of work: one database transaction plus the events it records.

A service method opens `async with uow.transaction() as tx:` and calls
`tx.record(event)`; the event rows are written to the module's outbox in the same
transaction, so state and events commit or roll back together. When an event
handler is already running inside a transaction (opened by the dispatcher with the
inbox row), a nested `transaction()` joins it instead of opening a second one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import msgspec
from opentelemetry import propagate
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql import Executable, Select

from cloudtaskhub.clock import Clock, new_id
from cloudtaskhub.context import correlation_id
from cloudtaskhub.db.engines import OFF_THE_LOOP, READ_ONLY
from cloudtaskhub.db.loop_reader import LoopReader, NotOnTheLoop
from cloudtaskhub.db.pg_reader import PgReader
from cloudtaskhub.db.statements import insert_into
from cloudtaskhub.events.contract import Event
from cloudtaskhub.events.tables import EventTables
from cloudtaskhub.telemetry._tracing import exporting

__all__ = ["Transaction", "UnitOfWork"]


class Transaction:
    def __init__(self, session: AsyncSession, uow: UnitOfWork) -> None:
        self.session = session
        self._uow = uow
        self.recorded: list[Event] = []

    async def record(self, event: Event) -> None:
        """Write `event` to this module's outbox, inside the current transaction."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        await self.session.execute(
            insert_into(self._uow.tables.outbox),
            {
                "id": new_id(),
                "type": event.type_for(self._uow.module),
                "subject": event.subject(),
                "time": self._uow.clock.now(),
                "data": msgspec.json.encode(event).decode(),
                "traceparent": carrier.get("traceparent"),
                "tracestate": carrier.get("tracestate"),
                "correlationid": correlation_id.get(),
            },
        )
        self.recorded.append(event)


class UnitOfWork:
    def __init__(
        self,
        module: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        tables: EventTables,
        clock: Clock,
        on_commit: Callable[[], None] = lambda: None,
        loop_reader: LoopReader | None = None,
        pg_reader: PgReader | None = None,
    ) -> None:
        self.module = module
        self.sessionmaker = sessionmaker
        self.loop_reader = loop_reader
        self.pg_reader = pg_reader
        self.tables = tables
        self.clock = clock
        self._on_commit = on_commit
        self._active: ContextVar[Transaction | None] = ContextVar(f"uow_{module}", default=None)

    @asynccontextmanager
    async def transaction(self, *, long: bool = False) -> AsyncIterator[Transaction]:
        """The active transaction, or a new one. `long`: one that may run long (a replay
        of a whole log): on SQLite its statements run off the event loop
        (`cloudtaskhub.db.one_hop`)."""
        active = self._active.get()
        if active is not None:
            yield active
            return
        async with self.sessionmaker() as session, session.begin():
            if long:
                await session.connection(execution_options={OFF_THE_LOOP: True})
            tx = Transaction(session, self)
            token = self._active.set(tx)
            try:
                yield tx
            finally:
                self._active.reset(token)
        if tx.recorded:
            self._on_commit()

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`: for the few statements written per dialect."""
        name: str = self.sessionmaker.kw["bind"].dialect.name
        return name

    async def rows(
        self, statement: Executable, parameters: Mapping[str, Any] | None = None, *, short: bool = True
    ) -> Sequence[Sequence[Any]]:
        """The rows of one Core statement, without an ORM session, read by position.

        Inside a transaction it runs there (and sees that transaction's writes).
        Otherwise a SELECT on PostgreSQL runs on the asyncpg connection of a pooled
        connection (see `cloudtaskhub.db.pg_reader`), and a `short` read on a SQLite
        file on the event loop (see `cloudtaskhub.db.loop_reader`: a statement over
        its time budget, or one that finds the file locked, is rerun off the loop);
        everything else (and every read while spans are exported) runs through
        SQLAlchemy on a pooled connection of the module's engine, outside a
        transaction on PostgreSQL, in a read-only one on SQLite.
        Pass `short=False` for a statement whose cost the caller cannot bound (a
        scan), so it never starts on the SQLite loop. `parameters` fill the statement's
        `bindparam`s: a hot statement built once and kept skips SQLAlchemy's
        per-call construction (most of the cost of a short read).
        """
        active = self._active.get()
        if active is not None:
            return (await active.session.execute(statement, parameters)).all()
        if self.pg_reader is not None and isinstance(statement, Select) and not exporting():
            return await self.pg_reader.rows(statement, parameters)
        if short and self.loop_reader is not None:
            try:
                return self.loop_reader.rows(statement, parameters)
            except NotOnTheLoop:
                pass
        engine: AsyncEngine = self.sessionmaker.kw["bind"]
        # One statement needs no transaction of its own: on PostgreSQL autocommit saves
        # the BEGIN and COMMIT round trips; on SQLite the read-only BEGIN is DEFERRED.
        options = (
            {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {READ_ONLY: True}
        )
        async with engine.connect() as connection:
            await connection.execution_options(**options)
            return (await connection.execute(statement, parameters)).all()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; joins the active transaction when there is one."""
        active = self._active.get()
        if active is not None:
            yield active.session
            return
        async with self.sessionmaker() as session:
            await session.connection(execution_options={READ_ONLY: True})
            yield session
