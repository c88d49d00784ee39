"""One consumer group per consuming module, one worker per assigned partition.

The fetch loop only fetches and routes records to their partition's worker; each
worker hands what it has queued (up to `batch_max` records) to the module's
dispatcher as one batch, in offset order; once `handle_batch` returned (the
batch's transaction, with its inbox rows, has committed) the partition's new
position is due for commit. A worker does not wait for that commit: the group's
committer sends every partition's due position in one request, one at a time, and
the worker meanwhile takes its next batch (a commit round trip per batch per
partition, serialized by aiokafka, was most of a worker's time on an idle
database). An offset is still committed only after its effect: a crash before the
commit redelivers records whose inbox rows exist, and the inbox skips them. A
worker whose dispatcher cannot settle an event backs off and tries again, holding
up its own partition only. On revocation a worker finishes the record in hand
(bounded by a grace period), commits its position itself, and drops what it had
queued: the next owner starts from the committed offset.

A rebalance waits for every member's revocation, so nothing on that path may wait
without bound: a handler past its grace is abandoned, and a commit the broker does
not answer within `commit_timeout` is given up (the records are delivered again
from the last committed offset, and the inbox skips them). A member that still has
no assignment long after it was revoked or started (`stuck_after`) reports it in
the readiness check, so the orchestrator replaces a process whose group is wedged
instead of letting its module stop consuming unnoticed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from cloudtaskhub.events.bus import BatchCutShort, Consumer, topic_for
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.kafka._records import MalformedRecord, envelope_from_record
from cloudtaskhub.metrics import CONSUMER_LAG

__all__ = ["ConsumerGroup", "group_id", "subscription"]

log = logging.getLogger("cloudtaskhub.events.kafka")

#: Every module's event topic (a consumer of `*` sources, e.g. heartbeats).
EVERY_EVENT_TOPIC = r"^cloudtaskhub\.[a-z_]+\.events$"
#: A worker with this many records queued pauses its partition until it is half done.
HIGH_WATER = 500

#: aiokafka's ConsumerRecord[bytes, bytes] (aiokafka ships no type information).
Record: TypeAlias = Any
#: Sends a record that is no CloudEvent to the consumer's dead-letter topic.
RejectRecord = Callable[[str, Record, str], Awaitable[None]]


def group_id(module: str) -> str:
    return f"cloudtaskhub.{module}"


def subscription(consumer: Consumer) -> tuple[list[str], str | None]:
    """Topics to subscribe to, or a pattern when the consumer takes every module's events."""
    if "*" in consumer.sources:
        return [], EVERY_EVENT_TOPIC
    return sorted(topic_for(source) for source in consumer.sources), None


class _PartitionWorker:
    def __init__(self, group: ConsumerGroup, partition: TopicPartition) -> None:
        self.group = group
        self.partition = partition
        self.queue: asyncio.Queue[Record] = asyncio.Queue()
        #: Next offset to read = what to commit once everything before it is settled.
        self.position: int | None = None
        self.committed: int | None = None
        self.busy = False
        self.closing = False
        name = f"kafka:{group.consumer.module}:{partition.topic}:{partition.partition}"
        self.task = asyncio.create_task(self.run(), name=name)

    def offer(self, records: list[Record]) -> None:
        for record in records:
            self.queue.put_nowait(record)

    async def run(self) -> None:
        while not self.closing:
            records = [await self.queue.get()]
            # Whatever else the partition has queued goes in the same batch (one
            # transaction); a worker never waits for more.
            while len(records) < self.group.batch_max and not self.queue.empty():
                records.append(self.queue.get_nowait())
            if self.position is not None:
                # Fetched again after a reassignment: already settled here.
                records = [record for record in records if record.offset >= self.position]
            if not records:
                continue
            self.busy = True
            try:
                await self._settle(records)
                self.position = records[-1].offset + 1
                self.group.commit_soon()  # after the batch's transaction committed
            except BatchCutShort:
                # Stopping: the batch's settled part is redelivered from the committed
                # offset after the next start, and the inbox skips it then.
                return
            finally:
                self.busy = False
            self.group.maybe_resume(self)

    async def _settle(self, records: list[Record]) -> None:
        """Settle `records` in offset order: CloudEvents in batches, anything else rejected."""
        consumer = self.group.consumer
        batch: list[Envelope] = []
        for record in records:
            try:
                batch.append(envelope_from_record(record.value, record.headers))
                continue
            except MalformedRecord as error:
                reason = str(error)
            if batch:
                await self._until_done(functools.partial(consumer.handle_batch, batch))
                batch = []
            log.error("%s: %s at %s", consumer.module, reason, self._where(record))
            await self._until_done(functools.partial(self.group.reject, consumer.module, record, reason))
        if batch:
            await self._until_done(functools.partial(consumer.handle_batch, batch))

    async def _until_done(self, attempt: Callable[[], Awaitable[None]]) -> None:
        """Retry what could not settle, with backoff, until it does (or we are cancelled)."""
        failures = 0
        while True:
            try:
                await attempt()
                return
            except (asyncio.CancelledError, BatchCutShort):
                raise
            except Exception as error:
                failures += 1
                delay = min(30.0, 0.2 * 2 ** min(failures, 8))
                log.warning(
                    "%s could not settle a record on %s (%s); retrying in %.1fs",
                    self.group.consumer.module,
                    self.partition,
                    error,
                    delay,
                )
                await asyncio.sleep(delay)

    def _where(self, record: Record) -> str:
        return f"{record.topic}[{record.partition}]@{record.offset}"

    @property
    def due(self) -> bool:
        """Settled past what the broker has recorded as committed."""
        return self.position is not None and self.position != self.committed

    async def commit(self) -> None:
        """Commit this partition's position now (on revocation, and in tests)."""
        await self.group.commit_positions([self])

    async def close(self, grace: float) -> None:
        """Finish the record in hand (within `grace`), commit, drop the rest."""
        self.closing = True
        if self.busy:
            # Past the grace the handler is abandoned: its transaction rolls back and
            # the record is delivered again from the committed offset.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.task), timeout=grace)
        self.task.cancel()
        # A worker that does not take the cancellation at once is left behind rather
        # than holding up the rebalance: its position is no longer committed, so
        # whatever it still commits is redelivered, and the inbox skips it.
        finished, _ = await asyncio.wait({self.task}, timeout=min(grace, 1.0))
        for task in finished:
            if not task.cancelled():
                task.exception()  # retrieved: the worker already logged what went wrong
        await self.commit()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, group: ConsumerGroup) -> None:
        self.group = group

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.group.unassigned()
        await self.group.release(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.group.assigned()
        log.info("%s assigned %d partitions", self.group.consumer.module, len(assigned))


class ConsumerGroup:
    def __init__(
        self,
        consumer: Consumer,
        reject: RejectRecord,
        options: dict[str, Any],
        *,
        grace: float,
        stuck_after: float,
        leave_group: bool = True,
        max_records: int = HIGH_WATER,
        batch_max: int = 100,
    ) -> None:
        self.consumer = consumer
        self._max_records = max_records
        self.batch_max = batch_max
        self.reject = reject
        self._grace = grace
        self._commit_timeout = grace / 2
        self._stuck_after = stuck_after
        self._leave_group = leave_group
        #: Since when this member has been without an assignment (joining), or None.
        self._unassigned_since: float | None = None
        self._kafka = AIOKafkaConsumer(
            group_id=group_id(consumer.module),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **options,
        )
        self._workers: dict[TopicPartition, _PartitionWorker] = {}
        self._paused: set[TopicPartition] = set()
        self._fetching: asyncio.Task[None] | None = None
        #: One commit request at a time, built inside the lock: offsets never go back.
        self._commit_lock = asyncio.Lock()
        self._commit_wanted = asyncio.Event()
        self._committing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        topics, pattern = subscription(self.consumer)
        listener = _Rebalance(self)
        if pattern is not None:
            self._kafka.subscribe(pattern=pattern, listener=listener)
        else:
            self._kafka.subscribe(topics=topics, listener=listener)
        self.unassigned()
        name = f"kafka:{self.consumer.module}:fetch"
        self._fetching = asyncio.create_task(self._join_and_fetch(), name=name)

    async def _join_and_fetch(self) -> None:
        # aiokafka's start() returns only once the group has assigned partitions, which
        # waits for every other member to rejoin (up to the rebalance timeout). Joining in
        # the background keeps that wait out of the process's start: a new task is ready
        # to serve HTTP while its groups rebalance, instead of missing its health checks,
        # being replaced, and setting off one more rebalance of every group it was in.
        try:
            await self._kafka.start()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: joining the consumer group failed", self.consumer.module)
            raise
        await self._fetch()

    @property
    def running(self) -> bool:
        return self._fetching is not None and not self._fetching.done()

    def assignment(self) -> set[TopicPartition]:
        return set(self._kafka.assignment())

    def unassigned(self) -> None:
        if self._unassigned_since is None:
            self._unassigned_since = time.monotonic()

    def assigned(self) -> None:
        self._unassigned_since = None

    def stuck_for(self) -> float | None:
        """Seconds without an assignment, once that is past `stuck_after` (else None).

        A join normally ends within the rebalance timeout, with an assignment that may
        be empty (more members than partitions); one that never ends leaves the module
        consuming nothing while its process looks healthy.
        """
        if self._unassigned_since is None:
            return None
        waited = time.monotonic() - self._unassigned_since
        return waited if waited > self._stuck_after else None

    async def _fetch(self) -> None:
        while True:
            try:
                batches = await self._kafka.getmany(timeout_ms=500, max_records=self._max_records)
            except asyncio.CancelledError:
                raise
            except KafkaError as error:
                log.warning("%s: fetch failed: %s", self.consumer.module, error)
                await asyncio.sleep(1.0)
                continue
            except Exception:  # keep consuming; a dead fetch loop would stall the module silently
                log.exception("%s: unexpected error while fetching", self.consumer.module)
                await asyncio.sleep(1.0)
                continue
            assigned = self._kafka.assignment()
            for partition, records in batches.items():
                if partition not in assigned:
                    continue  # revoked while fetching: the next owner reads these
                worker = self._workers.get(partition)
                if worker is None:
                    worker = self._workers[partition] = _PartitionWorker(self, partition)
                worker.offer(records)
                self._update_lag(partition, records[-1].offset + 1)
                if worker.queue.qsize() >= HIGH_WATER:
                    self._kafka.pause(partition)
                    self._paused.add(partition)

    def _update_lag(self, partition: TopicPartition, fetched: int) -> None:
        highwater = self._kafka.highwater(partition)
        if highwater is not None:
            lag = max(0, highwater - fetched) + self._workers[partition].queue.qsize()
            labels = (self.consumer.module, partition.topic, str(partition.partition))
            CONSUMER_LAG.labels(*labels).set(lag)

    def maybe_resume(self, worker: _PartitionWorker) -> None:
        if worker.partition in self._paused and worker.queue.qsize() <= HIGH_WATER // 2:
            self._paused.discard(worker.partition)
            if worker.partition in self._kafka.assignment():
                self._kafka.resume(worker.partition)

    def commit_soon(self) -> None:
        """A worker settled a batch: its position goes with the committer's next request."""
        self._commit_wanted.set()
        if self._committing is None or self._committing.done():
            name = f"kafka:{self.consumer.module}:commit"
            self._committing = asyncio.create_task(self._commit_due(), name=name)

    async def _commit_due(self) -> None:
        """Commit every partition's due position in one request, again while more come due."""
        while True:
            await self._commit_wanted.wait()
            self._commit_wanted.clear()
            await self.commit_positions(list(self._workers.values()))

    async def commit_positions(self, workers: list[_PartitionWorker]) -> None:
        """Commit the due positions of `workers` in one request. A position is recorded
        as committed only once the broker took it: after a failed commit, the next one
        (or the final one on revocation) tries again."""
        async with self._commit_lock:
            offsets = {w.partition: w.position for w in workers if w.due}
            if not offsets:
                return
            try:
                await asyncio.wait_for(self._kafka.commit(offsets), timeout=self._commit_timeout)
            except (KafkaError, TimeoutError) as error:
                # e.g. rebalanced meanwhile, or a broker that holds the request: the
                # inbox absorbs the redelivery from the last committed offset.
                where = ", ".join(f"{p.topic}[{p.partition}]@{o}" for p, o in offsets.items())
                reason = str(error) or f"no answer within {self._commit_timeout:.1f}s"
                log.warning("%s: commit %s failed: %s", self.consumer.module, where, reason)
                return
            for worker in workers:
                if worker.partition in offsets:
                    worker.committed = offsets[worker.partition]

    async def release(self, partitions: set[TopicPartition]) -> None:
        workers = [self._workers.pop(p) for p in partitions if p in self._workers]
        self._paused -= partitions
        await asyncio.gather(*(worker.close(self._grace) for worker in workers))

    async def stop(self) -> None:
        """Stop fetching, let in-flight handlers finish, commit, leave the group."""
        self.consumer.wind_down()
        if self._fetching is not None:
            self._fetching.cancel()
            await asyncio.gather(self._fetching, return_exceptions=True)
        await self.release(set(self._workers))
        if self._committing is not None:
            # Every worker committed its final position as it closed.
            self._committing.cancel()
            await asyncio.gather(self._committing, return_exceptions=True)
        if not self._leave_group:
            _stay_in_group(self._kafka)
        try:
            await self._kafka.stop()
        except KafkaError as error:
            log.warning("%s: leaving the group failed: %s", self.consumer.module, error)


def _stay_in_group(kafka: AIOKafkaConsumer) -> None:
    """Let `kafka.stop()` close without a LeaveGroup: the broker evicts this member after
    the session timeout instead. aiokafka has no switch for this (it skips LeaveGroup only
    for static members, whose ids two tasks of one slot would share during a start-first
    update), so its coordinator's leave step is replaced by the state reset alone; the
    step runs once, after the coordinator stopped joining and heartbeating."""
    coordinator = getattr(kafka, "_coordinator", None)
    if coordinator is None:  # never started
        return

    async def forget_membership() -> None:
        coordinator.reset_generation()

    coordinator._maybe_leave_group = forget_membership
