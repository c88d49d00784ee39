"""The outbox relay: delivers a module's committed events to the bus.

It wakes when a transaction that recorded events commits (low latency) and polls
as a fallback (events committed by another process, or left over by a crash).
On PostgreSQL rows are claimed with `FOR UPDATE SKIP LOCKED`, so relay replicas
never send the same row concurrently. Rows go out in `seq` (commit) order, in
batches; a row is marked published only once the bus is responsible for it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from opentelemetry import propagate, trace
from sqlalchemy import delete, func, select, update

from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.versions import DualPublishing
from cloudtaskhub.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from cloudtaskhub.events.bus import Bus
    from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["OutboxStatus", "Relay"]

log = logging.getLogger("cloudtaskhub.relay")
tracer = trace.get_tracer("cloudtaskhub.events")

#: Published rows are kept this long for inspection, then purged.
RETENTION = timedelta(hours=1)


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
        self._settled: list[int] = []
        settings = module.settings
        self._poll = settings.outbox_poll_interval_seconds
        self._batch = settings.outbox_batch_size
        self._max_inflight = settings.outbox_batch_size * 20
        self._lock = asyncio.Lock()
        self._versions = DualPublishing(module.module.publishes, settings.dual_publish)

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        failures = 0
        polls = 0
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
            except TimeoutError:
                polls += 1
            self._wake.clear()
            try:
                await self._mark_settled()
                while await self.pump() and not self._stopping:
                    pass
                if polls % 300 == 299:
                    await self._purge()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as error:
                failures += 1
                delay = min(30.0, self._poll * 2 ** min(failures, 5))
                log.warning("relay %s: %s; retrying in %.1fs", self._module.name, error, delay)
                await asyncio.sleep(delay)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def pump(self) -> bool:
        """Hand one batch to the bus; True when a full batch went (more may wait)."""
        async with self._lock:
            return await self._pump()

    async def _pump(self) -> bool:
        if len(self._inflight) >= self._max_inflight:
            return False
        outbox = self._module.tables.outbox
        query: Any = (
            select(outbox).where(outbox.c.published_at.is_(None)).order_by(outbox.c.seq).limit(self._batch)
        )
        if self._inflight:
            query = query.where(outbox.c.seq.not_in(list(self._inflight)))
        if self._module.engine.dialect.name == "postgresql":
            # Claim the rows until they are handed over, so replicas never send them too.
            async with self._module.uow.sessionmaker() as session, session.begin():
                rows = (await session.execute(query.with_for_update(skip_locked=True))).all()
                if not rows:
                    return False
                done = await self._hand_over(rows)
                if done:
                    await self._mark_published(session, done)
            return len(rows) == self._batch
        # SQLite has no row locks: holding its one write lock while the bus answers
        # (a broker round trip on Kafka) would stall every writer of the process. Read,
        # hand over, then mark in a short transaction; a second relay on the same file
        # could send a row twice, which consumers' inboxes absorb.
        async with self._module.uow.read() as session:
            rows = (await session.execute(query)).all()
        if not rows:
            return False
        done = await self._hand_over(rows)
        if done:
            async with self._module.uow.sessionmaker() as session, session.begin():
                await self._mark_published(session, done)
        return len(rows) == self._batch

    async def _hand_over(self, rows: Sequence[Any]) -> list[int]:
        """Publish `rows`; the seqs the bus settled at once (the rest settle later)."""
        spans = [self._producer_span(row) for row in rows]
        envelopes = [self._envelope(row, span) for row, span in zip(rows, spans, strict=True)]
        try:
            settled = await self._publish(envelopes)
        finally:
            for span in spans:
                span.end()
        done = []
        for row, future in zip(rows, settled, strict=True):
            if future.done() and not future.cancelled() and future.exception() is None:
                done.append(row.seq)
            else:
                self._inflight[row.seq] = future
                future.add_done_callback(functools.partial(self._on_settled, row.seq))
        for envelope in envelopes:
            EVENTS_PUBLISHED.labels(self._module.name, envelope.type).inc()
        return done

    async def _mark_published(self, session: AsyncSession, seqs: list[int]) -> None:
        outbox = self._module.tables.outbox
        await session.execute(
            update(outbox).where(outbox.c.seq.in_(seqs)).values(published_at=self._module.clock.now())
        )

    async def _publish(self, envelopes: list[Envelope]) -> list[asyncio.Future[None]]:
        """Publish each envelope after its older versions; one future per envelope."""
        groups = [self._versions.expand(envelope) for envelope in envelopes]
        settled = list(await self._bus.publish([e for group in groups for e in group]))
        futures: list[asyncio.Future[None]] = []
        for group in groups:
            parts, settled = settled[: len(group)], settled[len(group) :]
            futures.append(parts[0] if len(parts) == 1 else asyncio.ensure_future(_all_settled(parts)))
        return futures

    def _producer_span(self, row: Any) -> trace.Span:
        """One producer span per event, child of the request that recorded it."""
        carrier = {k: v for k, v in (("traceparent", row.traceparent), ("tracestate", row.tracestate)) if v}
        return tracer.start_span(
            f"{row.type} publish",
            context=propagate.extract(carrier),
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
            self._inflight.pop(seq, None)  # picked up again on the next poll
            return
        self._settled.append(seq)
        self._wake.set()

    async def _mark_settled(self) -> None:
        if not self._settled:
            return
        seqs, self._settled = self._settled, []
        async with self._module.uow.sessionmaker() as session, session.begin():
            await self._mark_published(session, seqs)
        for seq in seqs:
            self._inflight.pop(seq, None)

    async def drain(self) -> None:
        """Publish everything pending and wait until the bus has settled it (tests, CLI)."""
        while True:
            await self._mark_settled()
            sent = await self.pump()
            if self._inflight:
                await asyncio.gather(*self._inflight.values(), return_exceptions=True)
                await self._mark_settled()
            if not sent and not self._inflight and (await self.status()).pending == 0:
                return

    async def _purge(self) -> None:
        outbox = self._module.tables.outbox
        cutoff = self._module.clock.now() - RETENTION
        async with self._module.uow.sessionmaker() as session, session.begin():
            await session.execute(delete(outbox).where(outbox.c.published_at < cutoff))

    async def status(self) -> OutboxStatus:
        return await outbox_status(self._module)

    def _envelope(self, row: Any, span: trace.Span) -> Envelope:
        carrier: dict[str, str] = {}
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
