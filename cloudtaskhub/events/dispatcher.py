"""A consuming module's side of the bus: inbox, retries, dead letters.

Both buses hand envelopes to `Dispatcher.handle_batch` (up to
`CTH_BUS_CONSUMER_BATCH_MAX` of one lane or partition, in order), so exactly-once
effect, retry policy and dead-lettering behave the same in memory and on Kafka.

A batch runs in one transaction: one statement claims the inbox rows of all its
events, then each event's handlers run. One commit per batch instead of one per
event is what lets consumers keep up with writers (an event's own cost is a
handler's few statements). The first run of a batch has no savepoint per event (they
were two statements each, a quarter of what a create cost the consumers); when a
handler fails in it, the whole batch rolls back and runs again at once with a
savepoint per event. There an event whose handler fails
rolls back its savepoint (and gives up its inbox claim) only; the others commit,
and the failed event then goes down the one-event path alone (retries with
backoff, then the dead letters). Later events of its key in the batch wait until
it is settled, so a key's events still take effect in order. A transient failure
(`transient.py`) anywhere rolls the whole batch back and runs it again, as it
would one event; a failure that is no handler's own (the claim, the commit)
settles each event of the batch alone, as before batching.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from opentelemetry import context as otel_context
from opentelemetry import trace
from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from cloudtaskhub.clock import new_id
from cloudtaskhub.context import correlation_id
from cloudtaskhub.db.shapes import padded
from cloudtaskhub.db.statements import insert_ignoring
from cloudtaskhub.events.bus import BatchCutShort
from cloudtaskhub.events.envelope import DecodeError, Envelope, decode_data
from cloudtaskhub.events.transient import is_transient
from cloudtaskhub.metrics import (
    EVENT_BATCH_SIZE,
    EVENTS_DEAD_LETTERED,
    EVENTS_FAILED,
    EVENTS_HANDLED,
    EVENTS_RETRIED,
    EVENTS_SKIPPED,
    HANDLER_LATENCY,
    labelled,
)
from cloudtaskhub.module import HandlerContext, Subscription
from cloudtaskhub.telemetry._tracing import exporting, parent_context, providing, untraced_child

if TYPE_CHECKING:
    from cloudtaskhub.events.bus import Bus
    from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["Dispatcher", "is_transient"]

log = logging.getLogger("cloudtaskhub.events")
#: How many event types a dispatcher keeps the matching subscriptions of.
_TYPES_KEPT = 256
tracer = trace.get_tracer("cloudtaskhub.events")


class _HandlerFailed(Exception):
    """A handler failed in a batch run without savepoints: roll it all back, isolate."""

    def __init__(self, event_id: UUID, error: Exception) -> None:
        super().__init__(str(error))
        self.event_id = event_id
        self.error = error


@dataclass(frozen=True)
class _Item:
    """One durable event of a batch, decoded for each subscription that takes it."""

    envelope: Envelope
    subscriptions: list[Subscription[Any]]
    payloads: list[Any]


class Dispatcher:
    def __init__(self, module: ModuleRuntime, subscriptions: Sequence[Subscription[Any]], bus: Bus) -> None:
        self._runtime = module
        self._subscriptions = list(subscriptions)
        self._bus = bus
        settings = module.settings
        self.max_attempts = settings.handler_max_attempts
        self.backoff_base = settings.handler_backoff_base_seconds
        self.backoff_max = settings.handler_backoff_max_seconds
        self._winding_down = False
        #: Event type -> the subscriptions that take it (`_matching`), asked for every
        #: event by the bus (`handles`) and again by the batch.
        self._by_type: dict[str, list[Subscription[Any]]] = {}

    @property
    def module(self) -> str:
        return self._runtime.name

    @property
    def sources(self) -> frozenset[str]:
        return frozenset(s.event.event_source() for s in self._subscriptions)

    def handles(self, type_: str) -> bool:
        return bool(self._matching(type_))

    def wind_down(self) -> None:
        self._winding_down = True

    def _cut_short_if_winding_down(self, left: int) -> None:
        if self._winding_down and left:
            raise BatchCutShort(f"{self.module}: stopping with {left} events of a batch left")

    async def _back_off(self, seconds: float) -> None:
        """Wait before an event's next attempt; a stopping process makes none (the event
        had no effect yet and comes again after the next start)."""
        self._cut_short_if_winding_down(1)
        await asyncio.sleep(seconds)
        self._cut_short_if_winding_down(1)

    def _matching(self, type_: str) -> list[Subscription[Any]]:
        matching = self._by_type.get(type_)
        if matching is None:
            if len(self._by_type) >= _TYPES_KEPT:  # a broker may carry any string as a type
                self._by_type.clear()
            matching = self._by_type[type_] = [s for s in self._subscriptions if s.event.matches(type_)]
        return matching

    def backoff(self, attempt: int) -> float:
        return float(min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))

    async def handle(self, envelope: Envelope) -> None:
        subscriptions = self._matching(envelope.type)
        if not subscriptions:
            EVENTS_SKIPPED.labels(self.module, "unknown_type").inc()
            return
        try:
            payloads = [decode_data(envelope, s.event) for s in subscriptions]
        except DecodeError as error:
            await self._dead_letter(envelope, str(error), attempts=1)
            return
        durable = subscriptions[0].event.__durable__
        await self._handle_alone(envelope, subscriptions, payloads, durable=durable)

    async def handle_batch(
        self, envelopes: Sequence[Envelope], more: Callable[[], Sequence[Envelope]] | None = None
    ) -> None:
        """Settle `envelopes` (one lane's or partition's, in order); see the module doc.

        `more` (the in-process bus gives it) is asked once the batch transaction has
        begun, which on SQLite means once this process's write lock is ours: events
        that queued in the lane while it waited behind other writers join the batch
        instead of waiting for a transaction of their own.

        Raises only when some event could not be settled (a dead letter not written):
        the bus then hands the same envelopes again, and the inbox skips those whose
        effect committed.
        """
        if len(envelopes) == 1 and more is None:
            labelled(EVENT_BATCH_SIZE, self.module).observe(1)
            self._cut_short_if_winding_down(1)
            await self.handle(envelopes[0])
            return
        # Events that take no part in the batch transaction: settled after it, as before.
        items, apart = self._sort_out(envelopes)
        size = len(envelopes)
        extend: Callable[[list[_Item]], None] | None = None
        if more is not None:
            ask = more

            def extend(batch: list[_Item]) -> None:
                nonlocal size
                arrived = ask()
                size += len(arrived)
                joining, aside = self._sort_out(arrived)
                batch.extend(joining)
                apart.extend(aside)

        try:
            await self._settle_batch(items, apart, extend)
        finally:
            labelled(EVENT_BATCH_SIZE, self.module).observe(size)

    def _sort_out(self, envelopes: Sequence[Envelope]) -> tuple[list[_Item], list[Envelope]]:
        """The events for the batch transaction, and those settled apart after it."""
        items: list[_Item] = []
        apart: list[Envelope] = []
        for envelope in envelopes:
            subscriptions = self._matching(envelope.type)
            if not subscriptions:
                EVENTS_SKIPPED.labels(self.module, "unknown_type").inc()
                continue
            if not subscriptions[0].event.__durable__:
                apart.append(envelope)
                continue
            try:
                payloads = [decode_data(envelope, s.event) for s in subscriptions]
            except DecodeError:
                apart.append(envelope)  # dead-lettered by `handle`; it has no effect to order
                continue
            items.append(_Item(envelope, subscriptions, payloads))
        return items, apart

    async def _settle_batch(
        self, items: list[_Item], apart: list[Envelope], extend: Callable[[list[_Item]], None] | None
    ) -> None:
        while items:
            self._cut_short_if_winding_down(len(items))
            failed, items = await self._run_batch(items, extend)
            extend = None
            for index, (item, error) in enumerate(failed):
                self._cut_short_if_winding_down(len(failed) - index + len(items))
                await self._handle_alone(
                    item.envelope, item.subscriptions, item.payloads, durable=True, failed=error
                )
        for index, envelope in enumerate(apart):
            self._cut_short_if_winding_down(len(apart) - index)
            await self.handle(envelope)

    async def _run_batch(
        self, items: list[_Item], extend: Callable[[list[_Item]], None] | None = None
    ) -> tuple[list[tuple[_Item, Exception]], list[_Item]]:
        """Commit the batch's effects; the events whose handler failed, and those held
        back behind them (same key), both in order. `extend` adds to `items` in the
        first attempt's transaction, once it has begun; later attempts run them all.

        A batch of several events runs first without a savepoint per event (two
        statements and a nested transaction each, a quarter of a create's statements
        when every batch paid them). When a handler fails there, the whole transaction
        rolls back (nothing of the batch committed) and the batch runs again at once
        with a savepoint per event, so the failed event is isolated as before and the
        others commit; a handler's effect is never committed twice either way.
        """
        attempt = 0
        #: None: the first run, without savepoints. Then the events whose handler failed
        #: in it, by id: the run with savepoints counts them failed without running
        #: them again (their first attempt was that run).
        failed_first: dict[UUID, Exception] | None = None
        while True:
            attempt += 1
            joining, extend = extend, None
            try:
                return await self._batch_attempt(items, failed_first, joining)
            except _HandlerFailed as failure:
                failed_first = {**(failed_first or {}), failure.event_id: failure.error}
                attempt -= 1  # not an attempt of its own: the same batch, isolated
                continue
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_transient(error):
                    self._cut_short_if_winding_down(len(items))
                    log.warning(
                        "transient failure in a batch of %d for %s (%s), retrying",
                        len(items),
                        self.module,
                        error,
                    )
                    for item in items:
                        EVENTS_RETRIED.labels(self.module, item.envelope.type).inc()
                    # Jittered: two lanes' batches that deadlocked on PostgreSQL (each holds
                    # a row the other's next event wants) must not meet again in step.
                    await asyncio.sleep(self.backoff(min(attempt, 8)) * random.uniform(0.5, 1.5))  # noqa: S311
                    continue
                log.warning(
                    "batch of %d for %s failed outside its handlers (%s: %s); handling each alone",
                    len(items),
                    self.module,
                    type(error).__name__,
                    error,
                )
                for item in items:
                    await self._handle_alone(item.envelope, item.subscriptions, item.payloads, durable=True)
                return [], []

    async def _batch_attempt(
        self,
        items: list[_Item],
        failed_first: dict[UUID, Exception] | None,
        extend: Callable[[list[_Item]], None] | None = None,
    ) -> tuple[list[tuple[_Item, Exception]], list[_Item]]:
        savepoints = failed_first is not None
        failed: list[tuple[_Item, Exception]] = []
        held: list[_Item] = []
        handled: list[tuple[_Item, float]] = []
        blocked: set[str] = set()
        async with self._runtime.uow.transaction() as tx:
            session = tx.session
            if extend is not None:
                await session.connection()  # begun: on SQLite, the write lock is ours now
                extend(items)
            claimed = await self._claim_many(session, [item.envelope for item in items])
            for item in items:
                envelope = item.envelope
                if envelope.subject in blocked or self._winding_down:
                    held.append(item)  # after the failed one of its key, or past a stop
                    continue
                if envelope.id not in claimed:
                    EVENTS_SKIPPED.labels(self.module, "duplicate").inc()
                    continue
                claimed.discard(envelope.id)  # a second copy in this batch is a duplicate
                recorded = len(tx.recorded)
                started = time.perf_counter()
                try:
                    if failed_first is not None and envelope.id in failed_first:
                        raise failed_first[envelope.id]  # failed in the run without savepoints
                    if savepoints:
                        async with session.begin_nested():
                            await self._run_handlers(envelope, item.subscriptions, item.payloads)
                    else:
                        await self._run_handlers(envelope, item.subscriptions, item.payloads)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if is_transient(error):
                        raise
                    if not savepoints:
                        # No savepoint to roll back to: the whole batch rolls back, and
                        # `_run_batch` runs it again with one per event.
                        raise _HandlerFailed(envelope.id, error) from error
                    del tx.recorded[recorded:]  # rolled back with the savepoint
                    EVENTS_FAILED.labels(self.module, envelope.type).inc()
                    log.warning("handler for %s failed in a batch (attempt 1): %s", envelope.type, error)
                    failed.append((item, error))
                    blocked.add(envelope.subject)
                else:
                    handled.append((item, started))
            if failed or held:
                # Claimed with the others but not handled here: they claim again when
                # handled next (the failed alone, the held back in the next batch).
                inbox = self._runtime.tables.inbox
                ids = [item.envelope.id for item, _ in failed] + [item.envelope.id for item in held]
                await session.execute(delete(inbox).where(inbox.c.event_id.in_(padded(ids))))
        committed = time.perf_counter()
        for item, started in handled:
            labelled(HANDLER_LATENCY, self.module, item.envelope.type).observe(committed - started)
            labelled(EVENTS_HANDLED, self.module, item.envelope.type).inc()
        return failed, held

    async def _handle_alone(
        self,
        envelope: Envelope,
        subscriptions: list[Subscription[Any]],
        payloads: list[Any],
        *,
        durable: bool,
        failed: Exception | None = None,
    ) -> None:
        """One event in its own transaction: retries with backoff, then the dead letters.

        `failed`: the error of an attempt already made (in a batch), counted as the first.
        """
        attempt = 0
        if failed is not None:
            attempt = 1
            if attempt >= self.max_attempts:
                log.error("handler for %s failed %d times, dead-lettering", envelope.type, attempt)
                await self._dead_letter(envelope, f"{type(failed).__name__}: {failed}", attempt)
                return
            EVENTS_RETRIED.labels(self.module, envelope.type).inc()
            await self._back_off(self.backoff(attempt))
        while True:
            attempt += 1
            try:
                await self._attempt(envelope, subscriptions, payloads, durable=durable)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                EVENTS_FAILED.labels(self.module, envelope.type).inc()
                if not durable:
                    log.warning("dropping %s for %s: %s", envelope.type, self.module, error)
                    return
                if is_transient(error):
                    log.warning("transient failure on %s (%s), retrying", envelope.type, error)
                    EVENTS_RETRIED.labels(self.module, envelope.type).inc()
                    await self._back_off(self.backoff(min(attempt, 8)))
                    continue
                if attempt >= self.max_attempts:
                    log.error("handler for %s failed %d times, dead-lettering", envelope.type, attempt)
                    await self._dead_letter(envelope, f"{type(error).__name__}: {error}", attempt)
                    return
                log.warning("handler for %s failed (attempt %d): %s", envelope.type, attempt, error)
                EVENTS_RETRIED.labels(self.module, envelope.type).inc()
                await self._back_off(self.backoff(attempt))

    async def _attempt(
        self,
        envelope: Envelope,
        subscriptions: list[Subscription[Any]],
        payloads: list[Any],
        *,
        durable: bool,
    ) -> None:
        started = time.perf_counter()
        async with self._runtime.uow.transaction() as tx:
            if durable and not await self._claim(tx.session, envelope):
                EVENTS_SKIPPED.labels(self.module, "duplicate").inc()
                return
            await self._run_handlers(envelope, subscriptions, payloads)
        labelled(HANDLER_LATENCY, self.module, envelope.type).observe(time.perf_counter() - started)
        labelled(EVENTS_HANDLED, self.module, envelope.type).inc()

    async def _run_handlers(
        self, envelope: Envelope, subscriptions: list[Subscription[Any]], payloads: list[Any]
    ) -> None:
        """The event's handlers in the active transaction, under its trace and correlation id.

        A CONSUMER span while spans are exported; otherwise a non-recording child of the
        event's trace context, so the handler's logs and the events it records still
        carry the trace (`untraced_child`).
        """
        token = correlation_id.set(envelope.correlationid or str(envelope.id))
        try:
            if not exporting():
                if providing():
                    context = untraced_child(envelope.traceparent, envelope.tracestate)
                else:  # OTEL_SDK_DISABLED: the API's no-op tracer would have passed the parent on
                    context = parent_context(envelope.traceparent, envelope.tracestate)
                attached = otel_context.attach(context)
                try:
                    await self._call_handlers(envelope, subscriptions, payloads)
                finally:
                    otel_context.detach(attached)
                return
            with tracer.start_as_current_span(
                f"{envelope.type} process",
                context=parent_context(envelope.traceparent, envelope.tracestate),
                kind=trace.SpanKind.CONSUMER,
                attributes={
                    "messaging.system": self._bus.kind,
                    "messaging.operation": "process",
                    "messaging.message.id": str(envelope.id),
                    "messaging.consumer.group.name": self.module,
                    "cloudevents.event_type": envelope.type,
                },
            ):
                await self._call_handlers(envelope, subscriptions, payloads)
        finally:
            correlation_id.reset(token)

    async def _call_handlers(
        self, envelope: Envelope, subscriptions: list[Subscription[Any]], payloads: list[Any]
    ) -> None:
        context = HandlerContext(envelope=envelope, module=self._runtime)
        for subscription, payload in zip(subscriptions, payloads, strict=True):
            await subscription.handler(payload, context)

    async def _claim(self, session: AsyncSession, envelope: Envelope) -> bool:
        """Insert the inbox row; False when this consumer already handled the event."""
        inbox = self._runtime.tables.inbox
        values = {"event_id": envelope.id, "type": envelope.type, "handled_at": self._runtime.clock.now()}
        result = cast(CursorResult[Any], await session.execute(insert_ignoring(session, inbox), values))
        return bool(result.rowcount)

    async def _claim_many(self, session: AsyncSession, envelopes: list[Envelope]) -> set[UUID]:
        """Insert the batch's inbox rows in one statement; the ids newly claimed."""
        now = self._runtime.clock.now()
        unique = {envelope.id: envelope.type for envelope in envelopes}
        values = [{"event_id": id_, "type": type_, "handled_at": now} for id_, type_ in unique.items()]
        # Rows as parameters of one statement built once (SQLAlchemy sends them as one
        # multi-row INSERT ... RETURNING); padded, so that INSERT has a few lengths only.
        inbox = self._runtime.tables.inbox
        claimed = await session.scalars(
            insert_ignoring(session, inbox, returning=inbox.c.event_id), padded(values)
        )
        return set(claimed.all())

    async def _dead_letter(self, envelope: Envelope, error: str, attempts: int) -> None:
        """Record the dead letter once per event id, then hand it to the bus's DLQ.

        Raises only when the row cannot be written (the event is then delivered again).
        A failing DLQ write is retried alone: the handler does not run again and no
        second row is written; past the attempt budget the row in the table (what the
        CLI replays from) is the record and the lane moves on.
        """
        table = self._runtime.tables.dead_letters
        async with self._runtime.uow.transaction() as tx:
            # A redelivery of an event already dead-lettered (its DLQ write had not
            # finished when the process stopped) must not add a second row.
            exists = await tx.session.scalar(
                select(table.c.id).where(table.c.event_id == envelope.id, table.c.replayed_at.is_(None))
            )
            if exists is None:
                await tx.session.execute(
                    table.insert().values(
                        id=new_id(),
                        event_id=envelope.id,
                        type=envelope.type,
                        envelope=envelope.encode().decode(),
                        error=error[:4000],
                        attempts=attempts,
                        failed_at=self._runtime.clock.now(),
                    )
                )
                EVENTS_DEAD_LETTERED.labels(self.module, envelope.type).inc()
        for attempt in range(1, self.max_attempts + 1):
            try:
                await self._bus.dead_letter(self.module, envelope, error, attempts)
                return
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                log.warning(
                    "dead letter of %s for %s not handed to the bus (attempt %d): %s",
                    envelope.id,
                    self.module,
                    attempt,
                    failure,
                )
                if attempt < self.max_attempts:
                    await asyncio.sleep(self.backoff(attempt))
        log.error(
            "dead letter of %s for %s kept in the table only; the bus refused it %d times",
            envelope.id,
            self.module,
            self.max_attempts,
        )

    async def replay(self, dead_letter_id: UUID) -> None:
        """Run a dead letter's handler once more; on success it is marked replayed.

        Raises the handler's error when it fails again (the dead letter stays).
        """
        table = self._runtime.tables.dead_letters
        async with self._runtime.uow.read() as session:
            row = (await session.execute(select(table).where(table.c.id == dead_letter_id))).one_or_none()
        if row is None:
            raise LookupError(f"no dead letter {dead_letter_id} in {self.module}")
        if row.replayed_at is not None:
            return
        envelope = Envelope.decode(row.envelope.encode())
        subscriptions = self._matching(envelope.type)
        payloads = [decode_data(envelope, s.event) for s in subscriptions]
        async with self._runtime.uow.transaction() as tx:
            await self._attempt(envelope, subscriptions, payloads, durable=True)
            await tx.session.execute(
                update(table)
                .where(table.c.id == dead_letter_id)
                .values(replayed_at=self._runtime.clock.now())
            )
