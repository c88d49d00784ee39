"""The in-process bus: consumers in this process, per-key lanes, no broker.

Each consumer gets `lanes` queues; an event goes to the lane of its subject, so
events about one aggregate stay in order while a failing handler (being retried)
holds up only its own lane. `publish` returns futures that settle when every
consumer has settled the event; the relay marks the outbox row published only
then, so an event whose handler had not run when the process died is delivered
again on restart (and the inbox makes the repeat harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Sequence

from cloudtaskhub.events.bus import Consumer
from cloudtaskhub.events.envelope import Envelope

__all__ = ["InProcessBus"]

log = logging.getLogger("cloudtaskhub.events")

_Item = tuple[Envelope, asyncio.Future[None]]


class _Lane:
    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.queue: asyncio.Queue[_Item] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()
        self.idle.set()

    async def run(self) -> None:
        while True:
            envelope, settled = await self.queue.get()
            self.idle.clear()
            try:
                await self.consumer.handle(envelope)
            except asyncio.CancelledError:
                if not settled.done():
                    settled.cancel()
                raise
            except Exception as error:  # not settled: the relay will deliver it again
                log.exception("consumer %s could not settle %s", self.consumer.module, envelope.id)
                if not settled.done():
                    settled.set_exception(error)
            else:
                if not settled.done():
                    settled.set_result(None)
            finally:
                self.idle.set()
                self.queue.task_done()


class InProcessBus:
    kind = "memory"

    def __init__(self, lanes: int = 8) -> None:
        self._lane_count = lanes
        self._lanes: dict[str, list[_Lane]] = {}
        self._consumers: list[Consumer] = []

    async def start(self, consumers: Sequence[Consumer], publishers: Sequence[str]) -> None:
        self._consumers = list(consumers)
        for consumer in consumers:
            lanes = [_Lane(consumer) for _ in range(self._lane_count)]
            for index, lane in enumerate(lanes):
                lane.task = asyncio.create_task(lane.run(), name=f"bus:{consumer.module}:{index}")
            self._lanes[consumer.module] = lanes

    async def publish(self, envelopes: Sequence[Envelope]) -> Sequence[asyncio.Future[None]]:
        loop = asyncio.get_running_loop()
        settled: list[asyncio.Future[None]] = []
        for envelope in envelopes:
            per_consumer: list[asyncio.Future[None]] = []
            for consumer in self._consumers:
                if not consumer.handles(envelope.type):
                    continue
                lanes = self._lanes[consumer.module]
                lane = lanes[zlib.crc32(envelope.subject.encode()) % len(lanes)]
                future: asyncio.Future[None] = loop.create_future()
                lane.queue.put_nowait((envelope, future))
                per_consumer.append(future)
            if per_consumer:
                settled.append(asyncio.ensure_future(_all(per_consumer)))
            else:
                done: asyncio.Future[None] = loop.create_future()
                done.set_result(None)
                settled.append(done)
        return settled

    async def dead_letter(self, consumer: str, envelope: Envelope, error: str, attempts: int) -> None:
        """Dead letters live in the consumer's table; nothing else to do in memory."""

    async def check(self) -> None:
        for lanes in self._lanes.values():
            for lane in lanes:
                if lane.task is None or lane.task.done():
                    raise RuntimeError("in-process bus lane stopped")

    async def stop(self, grace: float = 10.0) -> None:
        """Let lanes finish the handler they are running, then cancel them."""
        lanes = [lane for group in self._lanes.values() for lane in group]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(lane.idle.wait() for lane in lanes)), timeout=grace)
        for lane in lanes:
            if lane.task is not None:
                lane.task.cancel()
        await asyncio.gather(*(lane.task for lane in lanes if lane.task), return_exceptions=True)
        self._lanes.clear()


async def _all(futures: list[asyncio.Future[None]]) -> None:
    await asyncio.gather(*futures)
