"""The in-process bus: consumers in this process, per-key lanes, no broker.

Each consumer gets `lanes` queues; an event goes to the lane of its subject, so
events about one aggregate stay in order while a failing handler (being retried)
holds up only its own lane. A lane hands its consumer whatever it has queued, up
to `batch_max` events, as one batch (see `dispatcher`). `publish` returns futures that settle when every
consumer has settled the event; the relay marks the outbox row published only
then, so an event whose handler had not run when the process died is delivered
again on restart (and the inbox makes the repeat harmless).

Backpressure is per consumer. A consumer holding `capacity` events it has not
settled (its database is down, its handler hangs) takes no more: the bus answers
`Deferred` for it while the other consumers take the event as usual. The row stays
pending in the outbox; once the consumer is down to half its capacity, the relay
sends the pending rows again from the oldest and calls `Deferral.resume` just
before. Until then the consumer defers every newer event of that publisher too, so
it never sees a key's events out of order. Consumers that already settled a re-sent
event are not handed it a second time.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import cast
from uuid import UUID

from cloudtaskhub.events.bus import BatchCutShort, Consumer, Deferral, Deferred
from cloudtaskhub.events.envelope import Envelope

__all__ = ["InProcessBus"]

log = logging.getLogger("cloudtaskhub.events")

_Item = tuple[Envelope, asyncio.Future[None]]
#: How long a lane waits before handing an event that could not be settled to its
#: consumer again (the consumer's own retries come first; this is its database down
#: while writing a dead letter).
_RESETTLE_DELAY_SECONDS = (0.2, 1.0, 5.0)


class _Lane:
    def __init__(self, consumer: _ConsumerState) -> None:
        self.state = consumer
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()
        #: Waiting to hand a batch that could not settle to the consumer again.
        self.retrying = False

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            # Whatever else is waiting goes in the same batch (one transaction); the
            # lane never waits for more, so a lone event is not delayed.
            self._fill(batch)
            self.idle.clear()
            try:
                await self._settle(batch)
            except (asyncio.CancelledError, BatchCutShort) as stopped:
                # Not settled: the relay keeps the rows pending (sent again after a start).
                for _, settled in batch:
                    if not settled.done():
                        settled.cancel()
                if isinstance(stopped, asyncio.CancelledError):
                    raise
                return  # the process is stopping: this lane takes no more
            else:
                for _, settled in batch:
                    if not settled.done():
                        settled.set_result(None)
            finally:
                for envelope, _ in batch:
                    self.state.done(envelope.id)
                    self.queue.task_done()
                self.idle.set()

    def _fill(self, batch: list[_Item]) -> None:
        while len(batch) < self.state.batch_max and not self.queue.empty():
            batch.append(self.queue.get_nowait())

    def _more(self, batch: list[_Item]) -> list[Envelope]:
        """The events queued behind `batch` since it was handed over, now part of it.

        The consumer asks once its transaction can start: on SQLite that is after
        waiting for the write lock behind other writers (producers, the relay), and
        the events that arrived meanwhile would otherwise wait for a transaction of
        their own. Under load that wait is what makes batches, at no added latency.
        """
        taken = len(batch)
        self._fill(batch)
        return [envelope for envelope, _ in batch[taken:]]

    async def _settle(self, batch: list[_Item]) -> None:
        """Hand the batch to the consumer until it settles it (with what joined it).

        The lane does not move on while it cannot: a later event of the same key must
        not be handled before these (the relay would send them again later).
        """
        failures = 0
        while True:
            envelopes = [envelope for envelope, _ in batch]
            try:
                await self.state.consumer.handle_batch(envelopes, lambda: self._more(batch))
                return
            except (asyncio.CancelledError, BatchCutShort):
                raise
            except Exception:
                if self.state.stopping:
                    raise BatchCutShort("stopping: not handed over again") from None
                delay = _RESETTLE_DELAY_SECONDS[min(failures, len(_RESETTLE_DELAY_SECONDS) - 1)]
                failures += 1
                log.exception(
                    "consumer %s could not settle a batch of %d from %s; again in %.1fs",
                    self.state.consumer.module,
                    len(envelopes),
                    envelopes[0].id,
                    delay,
                )
                self.retrying = True
                try:
                    await asyncio.sleep(delay)
                finally:
                    self.retrying = False


class _ConsumerState:
    def __init__(self, consumer: Consumer, lanes: int, capacity: int, batch_max: int) -> None:
        self.consumer = consumer
        self.capacity = capacity
        self.batch_max = batch_max
        self.lanes = [_Lane(self) for _ in range(lanes)]
        #: Events queued or being handled, by id (a re-sent one joins its future).
        self.pending: dict[UUID, asyncio.Future[None]] = {}
        #: Events it took while another consumer deferred them (they will be re-sent),
        #: and the recently settled ones of those, so a re-send is not handed over twice
        #: (bounded: past it a repeat reaches the consumer, whose inbox skips it). Other
        #: repeats (a redelivery after a crash, a test's duplicate) do reach the inbox.
        self.resent: set[UUID] = set()
        self.settled: OrderedDict[UUID, None] = OrderedDict()
        #: Publishers whose events it defers until their relay re-sends from the oldest
        #: pending row (see `resume`), so it never takes a newer event of a key first.
        self.blocked: set[str] = set()
        self.room: asyncio.Future[None] | None = None
        self.stopping = False

    def lane_for(self, envelope: Envelope) -> _Lane:
        return self.lanes[zlib.crc32(envelope.subject.encode()) % len(self.lanes)]

    def offer(self, envelope: Envelope, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """The future of this consumer's settlement, or None when it defers the event."""
        if envelope.id in self.pending:
            return self.pending[envelope.id]
        if envelope.id in self.settled:
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            return done
        if envelope.source in self.blocked:
            return None
        if len(self.pending) >= self.capacity:
            self.blocked.add(envelope.source)
            return None
        future: asyncio.Future[None] = loop.create_future()
        self.pending[envelope.id] = future
        self.lane_for(envelope).queue.put_nowait((envelope, future))
        return future

    def deferral(self, source: str, loop: asyncio.AbstractEventLoop) -> Deferral:
        if self.room is None or self.room.done():
            self.room = loop.create_future()
            if len(self.pending) <= self.capacity // 2:
                self.room.set_result(None)
        return Deferral(self.consumer.module, self.room, lambda: self.blocked.discard(source))

    def will_be_resent(self, event_id: UUID) -> None:
        if event_id in self.pending:
            self.resent.add(event_id)

    def done(self, event_id: UUID) -> None:
        self.pending.pop(event_id, None)
        if event_id in self.resent:
            self.resent.discard(event_id)
            self.settled[event_id] = None
            while len(self.settled) > self.capacity * 10:
                self.settled.popitem(last=False)
        if self.room is not None and not self.room.done() and len(self.pending) <= self.capacity // 2:
            self.room.set_result(None)


class InProcessBus:
    kind = "memory"

    def __init__(self, lanes: int = 8, capacity: int = 1000, batch_max: int = 100) -> None:
        self._lane_count = lanes
        self._capacity = capacity
        self._batch_max = batch_max
        self._states: dict[str, _ConsumerState] = {}

    async def start(self, consumers: Sequence[Consumer], publishers: Sequence[str]) -> None:
        for consumer in consumers:
            state = _ConsumerState(consumer, self._lane_count, self._capacity, self._batch_max)
            for index, lane in enumerate(state.lanes):
                lane.task = asyncio.create_task(lane.run(), name=f"bus:{consumer.module}:{index}")
            self._states[consumer.module] = state

    async def publish(self, envelopes: Sequence[Envelope]) -> Sequence[asyncio.Future[None]]:
        loop = asyncio.get_running_loop()
        settled: list[asyncio.Future[None]] = []
        for envelope in envelopes:
            per_consumer: list[asyncio.Future[None]] = []
            accepted: list[_ConsumerState] = []
            deferred: list[_ConsumerState] = []
            for state in self._states.values():
                if not state.consumer.handles(envelope.type):
                    continue
                future = state.offer(envelope, loop)
                if future is None:
                    deferred.append(state)
                else:
                    per_consumer.append(future)
                    accepted.append(state)
            if deferred:
                for state in accepted:
                    state.will_be_resent(envelope.id)
                # Settled at once: the relay must not count it in flight, and the other
                # consumers handle it in the background meanwhile.
                failed: asyncio.Future[None] = loop.create_future()
                failed.set_exception(Deferred([state.deferral(envelope.source, loop) for state in deferred]))
                settled.append(failed)
            elif len(per_consumer) == 1:
                settled.append(per_consumer[0])
            elif per_consumer:
                # A future, not a task per event (a task was a tenth of a publish); the
                # relay reads whether it settled, never its value.
                settled.append(cast("asyncio.Future[None]", asyncio.gather(*per_consumer)))
            else:
                done: asyncio.Future[None] = loop.create_future()
                done.set_result(None)
                settled.append(done)
        return settled

    async def dead_letter(self, consumer: str, envelope: Envelope, error: str, attempts: int) -> None:
        """Dead letters live in the consumer's table; nothing else to do in memory."""

    async def check(self) -> None:
        for state in self._states.values():
            for lane in state.lanes:
                if lane.task is None or lane.task.done():
                    raise RuntimeError("in-process bus lane stopped")

    async def stop(self, grace: float = 10.0) -> None:
        """Let lanes finish the event they are handling (not the rest of its batch), then
        cancel them; past `grace` a handler is cancelled too (its transaction rolls back)."""
        for state in self._states.values():
            state.stopping = True
            state.consumer.wind_down()
        lanes = [lane for state in self._states.values() for lane in state.lanes]
        for lane in lanes:
            if lane.retrying and lane.task is not None:
                lane.task.cancel()  # nothing in hand: its batch did not settle
        idle = [asyncio.ensure_future(lane.idle.wait()) for lane in lanes]
        if idle:
            await asyncio.wait(idle, timeout=grace)
        for waiter in idle:
            waiter.cancel()
        for lane in lanes:
            if lane.task is not None:
                lane.task.cancel()
        await asyncio.gather(*(lane.task for lane in lanes if lane.task), return_exceptions=True)
        for state in self._states.values():
            if state.room is not None and not state.room.done():
                state.room.cancel()
        self._states.clear()
