"""Event bus: commit→handler latency and events/s, outbox to handler, against
baselines run in the same invocation.

- in-process bus (SQLite, PostgreSQL) vs *direct*: the same durable work without
  the machinery — commit the event row, then run the handler in its own
  transaction with an inbox row, inline, in the producing task;
- Kafka bus (Tansu broker) vs *raw aiokafka*: produce→consume of the same
  payload bytes through the same broker, offsets committed after each batch.

The kernel is used directly: a bench publisher module and a bench consumer module
in one Runtime. Latency is measured from a wall-clock timestamp written into the
event data just before its transaction commits (so it includes that commit) to
the moment the handler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects import postgresql, sqlite

from bench.common import LOAD_CPUS, figure, not_measured, percentile, pin_all_threads
from cloudtaskhub.events.contract import Event, event_type
from cloudtaskhub.module import HandlerContext, Module, Subscription
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.settings import Settings
from cloudtaskhub.testing import test_settings

#: Producers committing concurrently in the throughput phase (like concurrent requests).
PRODUCERS = 8
#: The latency phase's offered rate, as in the team's goal.
RATE = 500
#: commit→handler p99 at RATE (issue #19: 50 ms on both buses).
GOALS_MS = {"memory": 50.0, "kafka": 50.0}


class BenchPing(Event, frozen=True):
    __event_type__ = event_type("benchsrc", "ping", 1)
    __subject__ = "key"
    key: uuid.UUID
    seq: int
    sent_at: float
    #: Padding to the size of a typical task event.
    body: str


BODY = "x" * 240


def ping(seq: int) -> BenchPing:
    return BenchPing(key=uuid.uuid4(), seq=seq, sent_at=time.time(), body=BODY)


@dataclass
class Recorder:
    """What the handler saw: seq → latency (s)."""

    latencies: dict[int, float] = field(default_factory=dict)
    last_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def saw(self, seq: int, sent_at: float) -> None:
        now = time.time()
        self.latencies.setdefault(seq, now - sent_at)
        self.last_at = now
        self.changed.set()

    async def wait_for(self, seqs: range, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not all(s in self.latencies for s in seqs):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), timeout=min(remaining, 0.5))


@dataclass
class Phase:
    """One measured phase: latencies in ms, achieved rates."""

    sent: int
    handled: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    offered_per_s: float
    handled_per_s: float

    def summary(self) -> dict[str, Any]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def _phase(recorder: Recorder, seqs: range, started: float, sent_done: float) -> Phase:
    samples = [recorder.latencies[s] * 1000 for s in seqs if s in recorder.latencies]
    handled = len(samples)
    elapsed = max(1e-9, (recorder.last_at if handled else time.time()) - started)
    return Phase(
        sent=len(seqs),
        handled=handled,
        p50_ms=percentile(samples, 50),
        p99_ms=percentile(samples, 99),
        max_ms=max(samples) if samples else float("nan"),
        offered_per_s=len(seqs) / max(1e-9, sent_done - started),
        handled_per_s=handled / elapsed,
    )


async def open_loop(send: Callable[[int], Awaitable[None]], first: int, count: int, rate: float) -> float:
    """Send `count` events at `rate`/s (one after the other; late ones go at once). Returns end time."""
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(first + i)
    return time.time()


async def burst(send: Callable[[int], Awaitable[None]], first: int, count: int) -> float:
    """Send `count` events as fast as PRODUCERS concurrent producers can commit them."""
    queue = iter(range(first, first + count))

    async def producer() -> None:
        for seq in queue:
            await send(seq)

    await asyncio.gather(*(producer() for _ in range(PRODUCERS)))
    return time.time()


async def measure(
    send: Callable[[int], Awaitable[None]], recorder: Recorder, *, seconds: float, burst_count: int
) -> tuple[Phase, Phase]:
    """Warm up, then the latency phase at RATE/s and the throughput phase (burst)."""
    await burst(send, 0, 50)
    await recorder.wait_for(range(50), 20)
    count = int(RATE * seconds)
    latency_seqs = range(1000, 1000 + count)
    started = time.time()
    ended = await open_loop(send, latency_seqs.start, count, RATE)
    await recorder.wait_for(latency_seqs, 30)
    latency = _phase(recorder, latency_seqs, started, ended)
    burst_seqs = range(100_000, 100_000 + burst_count)
    started = time.time()
    ended = await burst(send, burst_seqs.start, burst_count)
    await recorder.wait_for(burst_seqs, 60)
    throughput = _phase(recorder, burst_seqs, started, ended)
    return latency, throughput


# -- the kernel path: outbox → relay → bus → dispatcher → handler --------------------


def bench_modules(recorder: Recorder) -> list[Module]:
    async def record_ping(event: BenchPing, ctx: HandlerContext) -> None:
        recorder.saw(event.seq, event.sent_at)

    source = Module(
        name="benchsrc", description="bench publisher", metadata=MetaData(), publishes=[BenchPing]
    )
    sink = Module(
        name="benchsink",
        description="bench consumer",
        metadata=MetaData(),
        subscriptions=[Subscription(BenchPing, record_ping)],
    )
    return [source, sink]


async def kernel_path(
    database_url: str, data_dir: Path, seconds: float, burst_count: int, **settings: Any
) -> tuple[Phase, Phase]:
    recorder = Recorder()
    modules = bench_modules(recorder)
    config = test_settings(
        database_url,
        str(data_dir),
        outbox_poll_interval_seconds=1.0,  # production default; commits wake the relay
        process_name="bench",
        **settings,
    )
    runtime = Runtime(modules, config, environ={})
    await runtime.start(background=False)
    try:
        if config.bus == "kafka":
            await _wait_assigned(runtime)
        uow = runtime.module("benchsrc").uow

        async def send(seq: int) -> None:
            async with uow.transaction() as tx:
                await tx.record(ping(seq))

        return await measure(send, recorder, seconds=seconds, burst_count=burst_count)
    finally:
        await runtime.stop()
        await _drop_tables(database_url, [m.metadata for m in modules])


async def _wait_assigned(runtime: Runtime, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not runtime.bus.assignment("benchsink"):  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise TimeoutError("the bench consumer got no partitions")
        await asyncio.sleep(0.1)


async def _drop_tables(database_url: str, metadatas: list[MetaData]) -> None:
    if not database_url.startswith("postgresql"):
        return
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            for metadata in metadatas:
                await connection.run_sync(metadata.drop_all)
    finally:
        await engine.dispose()


# -- baseline: the same durable work inline, no relay, no bus ------------------------


async def direct_path(
    database_url: str, data_dir: Path, seconds: float, burst_count: int
) -> tuple[Phase, Phase]:
    """Commit the event row; then, in the producing task, the handler's transaction with its inbox row."""
    from cloudtaskhub.db import Databases

    metadata = MetaData()
    events = Table(
        "benchdirect_events",
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("id", String(36), nullable=False, unique=True),
        Column("subject", String(200), nullable=False),
        Column("time", DateTime(timezone=True), nullable=False),
        Column("data", Text, nullable=False),
    )
    inbox = Table(
        "benchdirect_inbox",
        metadata,
        Column("event_id", String(36), primary_key=True),
        Column("handled_at", Float, nullable=False),
    )
    databases = Databases()
    engine = databases.engine(database_url)
    sessions = databases.sessionmaker(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    recorder = Recorder()
    insert = postgresql.insert if database_url.startswith("postgresql") else sqlite.insert

    async def send(seq: int) -> None:
        event = ping(seq)
        event_id = str(uuid.uuid4())
        async with sessions() as session, session.begin():
            await session.execute(
                events.insert().values(
                    id=event_id,
                    subject=str(event.key),
                    time=_now(),
                    data=msgspec.json.encode(event).decode(),
                )
            )
        async with sessions() as session, session.begin():
            await session.execute(
                insert(inbox).values(event_id=event_id, handled_at=time.time()).on_conflict_do_nothing()
            )
            decoded = msgspec.json.decode(msgspec.json.encode(event), type=BenchPing)
            recorder.saw(decoded.seq, decoded.sent_at)

    try:
        return await measure(send, recorder, seconds=seconds, burst_count=burst_count)
    finally:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
        await databases.dispose()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


# -- baseline: raw aiokafka through the same broker -----------------------------------


async def raw_kafka(
    bootstrap: str, seconds: float, burst_count: int, tuning: Settings | None = None
) -> tuple[Phase, Phase]:
    """The same broker, payloads and client tuning (`CTH_KAFKA_*` defaults) as the bus."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"bench.raw.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 4, 1)])
    finally:
        await admin.close()
    tuning = tuning or Settings()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=False, linger_ms=tuning.kafka_linger_ms
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        metadata_max_age_ms=2000,
        fetch_max_wait_ms=tuning.kafka_fetch_max_wait_ms,
    )
    recorder = Recorder()
    await producer.start()
    await consumer.start()

    async def consume() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=tuning.kafka_max_poll_records)
            for records in batches.values():
                for record in records:
                    event = msgspec.json.decode(record.value, type=BenchPing)
                    recorder.saw(event.seq, event.sent_at)
            if batches:
                await consumer.commit()

    consuming = asyncio.create_task(consume())
    deliveries: list[asyncio.Future[Any]] = []

    async def send(seq: int) -> None:
        event = ping(seq)
        deliveries.append(
            await producer.send(topic, value=msgspec.json.encode(event), key=str(event.key).encode())
        )

    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment() and time.monotonic() < deadline:  # noqa: ASYNC110 - aiokafka offers no event
            await asyncio.sleep(0.1)
        return await measure(send, recorder, seconds=seconds, burst_count=burst_count)
    finally:
        consuming.cancel()
        await asyncio.gather(consuming, *deliveries, return_exceptions=True)
        await consumer.stop()
        await producer.stop()


# -- figures --------------------------------------------------------------------------


def _figures(
    name: str, bus: tuple[Phase, Phase], base: tuple[Phase, Phase], baseline_name: str, goal: float
) -> dict[str, Any]:
    (lat, thr), (base_lat, base_thr) = bus, base
    lost = (lat.sent - lat.handled) + (thr.sent - thr.handled)
    return {
        f"events.{name}.latency_p99": figure(
            lat.p99_ms,
            base_lat.p99_ms,
            "ms",
            baseline_name=baseline_name,
            better="lower",
            details={
                "bus": lat.summary(),
                "baseline": base_lat.summary(),
                "p50_ratio": round(lat.p50_ms / base_lat.p50_ms, 2) if base_lat.p50_ms else None,
                "goal_p99_ms": goal,
                "goal_met": lat.p99_ms < goal and lat.handled == lat.sent,
                "not_handled": lost,
            },
        ),
        f"events.{name}.throughput": figure(
            thr.handled_per_s,
            base_thr.handled_per_s,
            "events/s",
            baseline_name=baseline_name,
            better="higher",
            details={"bus": thr.summary(), "baseline": base_thr.summary(), "producers": PRODUCERS},
        ),
    }


async def run_memory(
    name: str, database_url: str, data_dir: Path, seconds: float, burst_count: int
) -> dict[str, Any]:
    base = await direct_path(database_url, data_dir, seconds, burst_count)
    bus = await kernel_path(database_url, data_dir, seconds, burst_count)
    return _figures(
        name,
        bus,
        base,
        "direct: commit the event row, then the handler's transaction with its inbox row, inline",
        GOALS_MS["memory"],
    )


def kafka_settings(bootstrap: str) -> dict[str, Any]:
    """The Kafka bus on the test broker (Tansu: no idempotent producer), with the test
    suite's short group timings (its consumer-group joins are slow)."""
    from entrypoints.split import FAST_KAFKA

    return {
        "bus": "kafka",
        "kafka_bootstrap": bootstrap,
        "kafka_idempotent_producer": False,
        "kafka_session_timeout_ms": int(FAST_KAFKA["CTH_KAFKA_SESSION_TIMEOUT_MS"]),
        "kafka_heartbeat_interval_ms": int(FAST_KAFKA["CTH_KAFKA_HEARTBEAT_INTERVAL_MS"]),
        "kafka_metadata_max_age_ms": int(FAST_KAFKA["CTH_KAFKA_METADATA_MAX_AGE_MS"]),
    }


async def run_kafka(data_dir: Path, log_dir: Path, seconds: float, burst_count: int) -> dict[str, Any]:
    from entrypoints.split import start_broker

    broker, bootstrap = start_broker(log_dir)
    pin_all_threads(broker.pid, LOAD_CPUS)
    try:
        base = await raw_kafka(bootstrap, seconds, burst_count)
        database = f"sqlite+aiosqlite:///{data_dir / 'kafka-bench.db'}"
        bus = await kernel_path(database, data_dir, seconds, burst_count, **kafka_settings(bootstrap))
    finally:
        broker.stop()
    return _figures(
        "kafka_sqlite",
        bus,
        base,
        "raw aiokafka produce→consume of the same payloads through the same Tansu broker",
        GOALS_MS["kafka"],
    )


async def postgres_url(url: str) -> str | None:
    """Our own database on the shared server (created once); None when unreachable."""
    import asyncpg

    dsn = url.replace("postgresql+asyncpg", "postgresql")
    name = dsn.rsplit("/", 1)[1]
    try:
        connection = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres", timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return url


async def run(workdir: Path, log_dir: Path, seconds: float, burst_count: int, pg_url: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    figures |= await run_memory(
        "memory_sqlite", f"sqlite+aiosqlite:///{workdir / 'memory-bench.db'}", workdir, seconds, burst_count
    )
    url = await postgres_url(pg_url)
    if url is None:
        reason = f"PostgreSQL not reachable at {pg_url}"
        figures["events.memory_postgres.latency_p99"] = not_measured(reason, "ms")
        figures["events.memory_postgres.throughput"] = not_measured(reason, "events/s")
    else:
        figures |= await run_memory("memory_postgres", url, workdir, seconds, burst_count)
    try:
        figures |= await run_kafka(workdir, log_dir, seconds, burst_count)
    except Exception as error:
        reason = f"Kafka bench failed: {type(error).__name__}: {error}"[:300]
        figures["events.kafka_sqlite.latency_p99"] = not_measured(reason, "ms")
        figures["events.kafka_sqlite.throughput"] = not_measured(reason, "events/s")
    return figures
