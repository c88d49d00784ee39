"""The outbox relay: delivers a module's committed events to the bus.

It wakes when a transaction that recorded events commits (low latency) and polls
as a fallback (events committed by another process, or left over by a crash).
Rows go out in `seq` (commit) order, in batches; a row is marked published only
once the bus is responsible for it.

One publisher per module at a time: on PostgreSQL each pump takes a transaction-
level advisory lock named after the module before it claims rows, and holds it
until the batch is handed over and marked. A replica that finds the lock taken
stands by until its next wake or poll. Row locks alone (`SKIP LOCKED`) prevent
doubles but not reordering: a second replica would skip the rows the first one is
still sending and publish newer events of the same key first. SQLite is one
process's database (one relay per module), so it needs no lock.

Bookkeeping cannot leak: a row is in flight (handed over, not yet settled by the
bus) or settled and waiting to be marked; a failed mark keeps the settled rows and
is retried, and a row whose settlement failed is picked up again by the next pump.

Settled rows are marked by a marker task beside the pump, one transaction at a time
covering every row settled meanwhile (on PostgreSQL a pump still marks the rows the
bus took at once inside its own locked transaction). On SQLite the pump used to
mark each batch itself: a write transaction per pump, queued behind the
producers' and consumers' on the one write lock, which held up the next pump. At
500 events/s through Kafka that mark was half a pump's time and most of the
commit→publish delay; the marker takes it off that path and marks fewer, larger
sets. A crash before a mark re-sends the rows; consumers' inboxes skip them.

On SQLite a pump reads once the writers queued on the process's write lock have
committed (a few milliseconds at most, `RELAY_LINGER_SECONDS`), on the event loop,
through one statement built once: woken by every commit, it used to read a row or two
at a time, each batch with its own read, mark and hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import zlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from uuid import UUID

import msgspec
from opentelemetry import propagate, trace
from sqlalchemy import Integer, Select, Text, Update, all_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from cloudtaskhub.db.engines import OFF_THE_LOOP, queued_writes
from cloudtaskhub.db.shapes import padded
from cloudtaskhub.events.bus import Deferral, Deferred
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.versions import DualPublishing
from cloudtaskhub.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, labelled
from cloudtaskhub.telemetry._tracing import exporting, parent_context

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

    from cloudtaskhub.events.bus import Bus
    from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["OutboxStatus", "Relay"]

log = logging.getLogger("cloudtaskhub.relay")
tracer = trace.get_tracer("cloudtaskhub.events")

#: The default of `CTH_OUTBOX_RETENTION_SECONDS` (the admin API's event-rate window).
RETENTION = timedelta(hours=1)
#: First key of the relay's PostgreSQL advisory locks ("CTHR"); the second is the module's.
_LOCK_NAMESPACE = 0x43544852


#: On SQLite, how long a pump may wait for the writers queued before it to commit
#: (`Relay._pending_sqlite`): a few of their short transactions, never a long one.
RELAY_LINGER_SECONDS = 0.005


class _OutboxRow(NamedTuple):
    """An outbox row as the relay reads it on SQLite (a tuple off the loop reader)."""

    seq: int
    id: UUID
    type: str
    subject: str
    time: datetime
    data: str
    traceparent: str | None
    tracestate: str | None
    correlationid: str | None


class OutboxStatus(msgspec.Struct, frozen=True):
    module: str
    pending: int
    oldest_pending_seconds: float | None
    published: int


class Relay:
    def __init__(self, module: ModuleRuntime, bus: Bus) -> None:
        self._module = module
        self._bus = bus
        self._wake = asyncio.Event()
        self._stopping = False
        #: seq -> settlement future, for rows handed over but not yet settled.
        self._inflight: dict[int, asyncio.Future[None]] = {}
        #: Settled rows not yet marked published (they stay in `_inflight` until marked).
        self._settled: list[int] = []
        self._marker: asyncio.Task[None] | None = None
        #: Consumers that deferred rows (in-process bus), and the seq range those rows
        #: lie in: skipped until a consumer has room, then sent again from the oldest.
        self._deferrals: dict[str, Deferral] = {}
        self._deferred: tuple[int, int] | None = None
        settings = module.settings
        self._poll = settings.outbox_poll_interval_seconds
        self._batch = settings.outbox_batch_size
        self._retention = timedelta(seconds=settings.outbox_retention_seconds)
        self._purge_every = settings.outbox_purge_interval_seconds
        self._lock = asyncio.Lock()
        self._lock_key = _signed32(zlib.crc32(module.name.encode()))
        self._versions = DualPublishing(module.module.publishes, settings.dual_publish)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        purging = asyncio.create_task(self._purge_periodically(), name=f"purge:{self._module.name}")
        try:
            await self._deliver()
        finally:
            purging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purging
            if self._marker is not None:
                self._marker.cancel()
                await asyncio.gather(self._marker, return_exceptions=True)

    async def _deliver(self) -> None:
        failures = 0
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):  # no task per wake, as wait_for made
                    await self._wake.wait()
            self._wake.clear()
            self._mark_soon()
            try:
                while await self.pump() and not self._stopping:
                    pass
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                delay = min(30.0, self._poll * 2 ** min(failures, 5))
                log.warning("relay %s: %s; retrying in %.1fs", self._module.name, error, delay)
                await asyncio.sleep(delay)

    async def _purge_periodically(self) -> None:
        """Purge published rows past their retention on a timer, whatever the traffic."""
        while True:
            await asyncio.sleep(self._purge_every)
            try:
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("relay %s: purging the outbox failed: %s", self._module.name, error)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def pump(self) -> bool:
        """Hand one batch to the bus; True when a full batch went (more may wait)."""
        async with self._lock:
            return await self._pump()

    def _exclusions(self) -> dict[str, Any]:
        """The parameters of the pending-rows statements: rows in flight or deferred."""
        low, high = self._deferred or (1, 0)  # an empty range excludes nothing
        return {"inflight": list(self._inflight), "deferred_low": low, "deferred_high": high}

    @functools.cached_property
    def _claim_statement(self) -> Select[Any]:
        """The next batch of pending rows on PostgreSQL, claimed (`_claim`).

        Built once, with the rows in flight as one array parameter: built per pump with
        them as an IN list, its construction and compilation (a new SQL text whenever
        their count changed) were a tenth of the relay's work per event.
        """
        outbox = self._module.tables.outbox
        return self._claim(
            select(outbox)
            .where(
                outbox.c.published_at.is_(None),
                outbox.c.seq != all_(bindparam("inflight", type_=ARRAY(outbox.c.seq.type))),
                ~outbox.c.seq.between(
                    bindparam("deferred_low", type_=Integer), bindparam("deferred_high", type_=Integer)
                ),
            )
            .order_by(outbox.c.seq)
            .limit(self._batch)
        )

    async def _pending_sqlite(self) -> list[_OutboxRow]:
        """The next batch of pending rows on SQLite, once the writers queued on the
        process's write lock have committed (`RELAY_LINGER_SECONDS` at most).

        Woken by every commit, the relay used to read after each one: under load a
        batch of one or two rows, each with its read, its mark (a write transaction)
        and its bus hand-over; a third of the CPU an event cost. Reading after the
        queued writers finds their rows together. An idle database has no queue, so a
        lone event is not delayed.

        One statement, built once, read on the event loop (`UnitOfWork.rows`): rows in
        flight are excluded through a JSON array parameter, so the SQL text never
        changes and is compiled once.
        """
        await queued_writes(self._module.engine, within=RELAY_LINGER_SECONDS)
        parameters = self._exclusions()
        parameters["inflight"] = msgspec.json.encode(parameters["inflight"]).decode()
        rows = await self._module.uow.rows(self._pending_statement, parameters)
        return [_OutboxRow._make(row) for row in rows]

    @functools.cached_property
    def _pending_statement(self) -> Select[Any]:
        outbox = self._module.tables.outbox
        inflight = func.json_each(bindparam("inflight", type_=Text)).table_valued("value")
        return (
            select(*(outbox.c[name] for name in _OutboxRow._fields))
            .where(
                outbox.c.published_at.is_(None),
                outbox.c.seq.not_in(select(inflight.c.value).scalar_subquery()),
                ~outbox.c.seq.between(
                    bindparam("deferred_low", type_=Integer), bindparam("deferred_high", type_=Integer)
                ),
            )
            .order_by(outbox.c.seq)
            .limit(self._batch)
        )

    def _claim(self, query: Select[Any]) -> Select[Any]:
        """`query` on PostgreSQL: only once this relay holds the module's lead.

        The lock is an uncorrelated subquery, so PostgreSQL takes it once, before the
        scan, and finds no row without it. The statement's snapshot predates the lock:
        a row another replica marked in between is seen as pending, but `FOR UPDATE`
        reads the row again at its committed version and drops it, as a claim made
        after the lock would not have seen it.
        """
        lead = select(func.pg_try_advisory_xact_lock(_LOCK_NAMESPACE, self._lock_key)).scalar_subquery()
        return query.where(lead).with_for_update(skip_locked=True)

    def _resume_deferred(self) -> None:
        """Consumers with room again take this publisher's events from the oldest pending row."""
        ready = [name for name, deferral in self._deferrals.items() if deferral.room.done()]
        for name in ready:
            self._deferrals.pop(name).resume()
        if ready or not self._deferrals:
            # Rows deferred by a consumer still without room come back deferred again.
            self._deferred = None

    async def _pump(self) -> bool:
        self._resume_deferred()
        if self._module.engine.dialect.name == "postgresql":
            async with self._module.uow.sessionmaker() as session, session.begin():
                # One publisher per module: the advisory lock, held until this batch is
                # handed over and marked (released by the commit or rollback), is taken by
                # the claim itself (no rows without it: another replica leads, and this one
                # stands by), one round trip instead of two. Row locks too: `outbox claim`
                # tools and older replicas skip these rows.
                rows = (await session.execute(self._claim_statement, self._exclusions())).all()
                if not rows:
                    return False
                done, deferred = await self._hand_over(rows)
                if done:
                    await self._mark_published(session, done)
            return len(rows) == self._batch and not deferred
        # SQLite has no row locks: holding its one write lock while the bus answers
        # (a broker round trip on Kafka) would stall every writer of the process. Read,
        # hand over, then mark in a short transaction. A SQLite database belongs to one
        # process, so this is the module's only relay.
        pending = await self._pending_sqlite()
        if not pending:
            return False
        done, deferred = await self._hand_over(pending)
        if done:
            # Marked by the marker, off this path; excluded from pumps until then.
            handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            handed.set_result(None)
            self._inflight.update(dict.fromkeys(done, handed))
            self._settled.extend(done)
            self._mark_soon()
        return len(pending) == self._batch and not deferred

    async def _hand_over(self, rows: Sequence[Any]) -> tuple[list[int], bool]:
        """Publish `rows`; the seqs the bus settled at once (the rest settle later), and
        whether a consumer deferred some."""
        # A PRODUCER span per event while spans are exported; otherwise none (the SDK
        # would make and drop one): the envelope carries the recording request's context.
        spans = [self._producer_span(row) for row in rows] if exporting() else []
        envelopes = [self._envelope(row, span) for row, span in itertools.zip_longest(rows, spans)]
        try:
            settled = await self._publish(envelopes)
        finally:
            for span in spans:
                span.end()
        done = []
        deferred = False
        for row, future in zip(rows, settled, strict=True):
            if not future.done():
                self._inflight[row.seq] = future
                future.add_done_callback(functools.partial(self._on_settled, row.seq))
            elif future.cancelled():
                continue  # not handed over: the next pump picks it up again
            elif isinstance(error := future.exception(), Deferred):
                self._defer(row.seq, error)
                deferred = True
            elif error is None:
                done.append(row.seq)
        for envelope in envelopes:
            labelled(EVENTS_PUBLISHED, self._module.name, envelope.type).inc()
        return done, deferred

    def _defer(self, seq: int, deferred: Deferred) -> None:
        low, high = self._deferred or (seq, seq)
        self._deferred = (min(low, seq), max(high, seq))
        for deferral in deferred.deferrals:
            if self._deferrals.get(deferral.consumer) is not deferral:
                self._deferrals[deferral.consumer] = deferral
                deferral.room.add_done_callback(lambda _: self._wake.set())

    async def _mark_published(self, bind: AsyncSession | AsyncConnection, seqs: list[int]) -> None:
        await bind.execute(self._mark_statement, {"seqs": padded(seqs), "now": self._module.clock.now()})

    @functools.cached_property
    def _mark_statement(self) -> Update:
        """Built once: its values are parameters (cloudtaskhub/db/statements.py says why)."""
        outbox = self._module.tables.outbox
        return (
            update(outbox)
            .where(outbox.c.seq.in_(bindparam("seqs", expanding=True, type_=outbox.c.seq.type)))
            .values(published_at=bindparam("now", type_=outbox.c.published_at.type))
        )

    async def _publish(self, envelopes: list[Envelope]) -> list[asyncio.Future[None]]:
        """Publish each envelope after its older versions; one future per envelope."""
        groups = [self._versions.expand(envelope) for envelope in envelopes]
        settled = list(await self._bus.publish([e for group in groups for e in group]))
        futures: list[asyncio.Future[None]] = []
        for group in groups:
            parts, settled = settled[: len(group)], settled[len(group) :]
            refused = [p for p in parts if p.done() and not p.cancelled() and p.exception() is not None]
            if len(parts) == 1 or refused:
                futures.append((refused or parts)[0])
            else:
                futures.append(asyncio.ensure_future(_all_settled(parts)))
        return futures

    def _producer_span(self, row: Any) -> trace.Span:
        """One producer span per event, child of the request that recorded it."""
        return tracer.start_span(
            f"{row.type} publish",
            context=parent_context(row.traceparent, row.tracestate),
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": self._bus.kind,
                "messaging.operation": "publish",
                "messaging.message.id": str(row.id),
                "cloudevents.event_type": row.type,
            },
        )

    def _on_settled(self, seq: int, future: asyncio.Future[None]) -> None:
        if future.cancelled() or future.exception() is not None:
            self._inflight.pop(seq, None)  # picked up again on the next pump
            if isinstance(error := future.exception() if not future.cancelled() else None, Deferred):
                self._defer(seq, error)
            return
        self._settled.append(seq)
        self._mark_soon()

    def _mark_soon(self) -> None:
        if self._settled and (self._marker is None or self._marker.done()):
            self._marker = asyncio.create_task(self._mark_while_settled(), name=f"mark:{self._module.name}")

    async def _mark_while_settled(self) -> None:
        """Mark settled rows, one transaction at a time, until none is left. A failed
        mark keeps them settled: tried again on the relay's next wake or poll."""
        while self._settled:
            try:
                await self._mark_settled()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("relay %s: marking rows published failed: %s", self._module.name, error)
                return

    async def _marked(self) -> None:
        """Wait for the marker's current run."""
        if self._marker is not None:
            await asyncio.gather(self._marker, return_exceptions=True)

    async def _mark_settled(self) -> None:
        if not self._settled:
            return
        seqs, self._settled = self._settled, []
        try:
            async with self._module.engine.begin() as connection:
                await self._mark_published(connection, seqs)
        except BaseException:
            # Still settled, still excluded from pumps: marked on the next try.
            self._settled = seqs + self._settled
            raise
        for seq in seqs:
            self._inflight.pop(seq, None)

    async def drain(self) -> None:
        """Publish everything pending and wait until the bus has settled it (tests, CLI).

        Returns once nothing is pending, in flight or deferred; raises what the database
        or the bus raised (call again once they are back).
        """
        while True:
            await self._marked()
            await self._mark_settled()
            sent = await self.pump()
            if self._inflight:
                await asyncio.gather(*self._inflight.values(), return_exceptions=True)
                await self._marked()
                await self._mark_settled()
            if self._deferrals:
                rooms = [deferral.room for deferral in self._deferrals.values()]
                await asyncio.wait(rooms, return_when=asyncio.FIRST_COMPLETED)
                continue
            if not sent and not self._inflight and (await self.status()).pending == 0:
                return

    async def purge(self) -> int:
        """Delete rows published longer ago than `CTH_OUTBOX_RETENTION_SECONDS`; how many."""
        outbox = self._module.tables.outbox
        cutoff = self._module.clock.now() - self._retention
        async with self._module.uow.sessionmaker() as session, session.begin():
            # A scan of every published row: on SQLite, not on the event loop.
            await session.connection(execution_options={OFF_THE_LOOP: True})
            result = await session.execute(delete(outbox).where(outbox.c.published_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def status(self) -> OutboxStatus:
        return await outbox_status(self._module)

    def _envelope(self, row: Any, span: trace.Span | None) -> Envelope:
        carrier: dict[str, str] = {}
        if span is not None:
            propagate.inject(carrier, context=trace.set_span_in_context(span))
        return Envelope(
            id=row.id,
            source=self._module.name,
            type=row.type,
            time=row.time,
            subject=row.subject,
            data=msgspec.Raw(row.data.encode()),
            traceparent=carrier.get("traceparent") or row.traceparent,
            tracestate=carrier.get("tracestate") or row.tracestate,
            correlationid=row.correlationid,
        )


def _signed32(value: int) -> int:
    """PostgreSQL's advisory lock keys are signed 32-bit integers."""
    return value - (1 << 32) if value >= 1 << 31 else value


async def _all_settled(futures: list[asyncio.Future[None]]) -> None:
    await asyncio.gather(*futures)


async def outbox_status(module: ModuleRuntime) -> OutboxStatus:
    outbox = module.tables.outbox
    async with module.uow.read() as session:
        pending, oldest = (
            await session.execute(
                select(func.count(), func.min(outbox.c.time)).where(outbox.c.published_at.is_(None))
            )
        ).one()
        published = await session.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.published_at.is_not(None))
        )
    age = (module.clock.now() - oldest).total_seconds() if oldest is not None else None
    OUTBOX_BACKLOG.labels(module.name).set(pending)
    OUTBOX_OLDEST_AGE.labels(module.name).set(age or 0.0)
    return OutboxStatus(module.name, int(pending), age, int(published or 0))
