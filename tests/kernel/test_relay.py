"""The relay under competition and faults: several replicas keep each key's order,
a failed mark never strands a row, published rows are purged whatever the traffic."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiosqlite
import msgspec
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from cloudtaskhub.clock import ManualClock
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.testing import test_settings as settings_for_tests
from tests.kernel.spine import Handled, consumer_module, publisher_module, record_pings
from tests.support.kafka import wait_for
from tests.support.postgres import requires_postgres, reset_postgres


class _TestBroker:
    """The parts of a bus these brokers do not exercise."""

    kind = "test"

    async def start(self, consumers: Sequence[Any], publishers: Sequence[str]) -> None:
        pass

    async def dead_letter(self, consumer: str, envelope: Envelope, error: str, attempts: int) -> None:
        pass

    async def check(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class _SlowFlakyBroker(_TestBroker):
    """A broker that answers after a random delay and refuses one publish in ten. Its log
    is the order in which it accepted records, as a Kafka partition would keep them."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []
        self.random = random.Random(18)

    async def publish(self, envelopes: Sequence[Envelope]) -> Sequence[asyncio.Future[None]]:
        await asyncio.sleep(self.random.uniform(0.0, 0.02))
        if self.random.random() < 0.1:
            raise ConnectionResetError("broker connection lost")
        loop = asyncio.get_running_loop()
        acknowledged = []
        for envelope in envelopes:
            data = msgspec.json.decode(envelope.data)
            self.log.append((data["key"], data["seq"]))
            future: asyncio.Future[None] = loop.create_future()
            future.set_result(None)
            acknowledged.append(future)
        return acknowledged


@pytest.mark.integration
async def test_three_relays_of_one_module_keep_every_keys_commit_order(tmp_path: Path) -> None:
    url = requires_postgres()
    await reset_postgres(url)
    broker = _SlowFlakyBroker()
    settings = settings_for_tests(url, str(tmp_path), outbox_batch_size=10, outbox_poll_interval_seconds=0.02)
    replicas = [Runtime([publisher_module("pub")], settings, bus=broker) for _ in range(3)]
    for replica in replicas:
        await replica.start(background=False)
    pings = [(f"key-{n % 20}", n) for n in range(1000)]

    try:
        for start in range(0, 1000, 20):
            await record_pings(replicas[start % 3].module("pub"), pings[start : start + 20])
        await wait_for(lambda: len(broker.log) >= 1000, timeout=60, what="1000 events on the broker")
    finally:
        for replica in replicas:
            await replica.stop()

    assert len(broker.log) == len(set(broker.log)) == 1000
    assert _by_key(broker.log) == _by_key(pings)


def _by_key(pings: list[tuple[str, int]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for key, seq in pings:
        found.setdefault(key, []).append(seq)
    return found


class _SlowAcksBroker(_TestBroker):
    """A broker that takes every record at once and acknowledges only when told."""

    def __init__(self) -> None:
        self.log: list[int] = []
        self.unacknowledged: list[asyncio.Future[None]] = []

    async def publish(self, envelopes: Sequence[Envelope]) -> Sequence[asyncio.Future[None]]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in envelopes]
        self.log.extend(msgspec.json.decode(envelope.data)["seq"] for envelope in envelopes)
        self.unacknowledged.extend(futures)
        return futures

    def acknowledge_all(self) -> None:
        for future in self.unacknowledged:
            future.set_result(None)
        self.unacknowledged.clear()


async def test_rows_awaiting_the_brokers_acknowledgement_are_not_sent_again(
    database_url: str, tmp_path: Path
) -> None:
    broker = _SlowAcksBroker()
    settings = settings_for_tests(database_url, str(tmp_path), outbox_poll_interval_seconds=0.02)
    runtime = Runtime([publisher_module("pub")], settings, bus=broker)
    await runtime.start(background=False)
    publisher = runtime.module("pub")
    try:
        await record_pings(publisher, [(f"key-{n}", n) for n in range(3)])
        await wait_for(lambda: len(broker.log) == 3, timeout=10, what="the first three on the broker")
        await record_pings(publisher, [(f"key-{n}", n) for n in range(3, 5)])
        await wait_for(lambda: len(broker.log) == 5, timeout=10, what="the next two on the broker")
        for _ in range(10):  # polls while the first five are still unacknowledged
            await publisher.relay.pump()
        assert broker.log == [0, 1, 2, 3, 4]

        broker.acknowledge_all()
        await asyncio.wait_for(runtime.drain(), timeout=10)
        assert (await publisher.outbox_status()).pending == 0
        assert broker.log == [0, 1, 2, 3, 4]
    finally:
        await runtime.stop()


@pytest.fixture
async def pub_and_reader(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Runtime, Handled]]:
    handled = Handled()
    settings = settings_for_tests(
        database_url,
        str(tmp_path),
        outbox_poll_interval_seconds=0.02,
        outbox_retention_seconds=60.0,
        outbox_purge_interval_seconds=0.05,
    )
    runtime = Runtime(
        [publisher_module("pub"), consumer_module("reader", "pub", handled)],
        settings,
        clock=ManualClock(),
        bus=InProcessBus(lanes=4),
    )
    await runtime.start(background=False)
    yield runtime, handled
    await runtime.stop()


async def test_a_relay_whose_mark_statement_fails_recovers_once_the_database_does(
    pub_and_reader: tuple[Runtime, Handled],
) -> None:
    runtime, handled = pub_and_reader
    publisher = runtime.module("pub")
    failures = {"left": 5}

    def fail_marks(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("UPDATE pub_outbox") and failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError(statement, None, ConnectionResetError("connection lost"))

    event.listen(publisher.engine.sync_engine, "before_cursor_execute", fail_marks)
    try:
        await record_pings(publisher, [(f"key-{n % 4}", n) for n in range(20)])
        await wait_for(lambda: failures["left"] == 0, timeout=30, what="every injected failure")
    finally:
        event.remove(publisher.engine.sync_engine, "before_cursor_execute", fail_marks)
    await asyncio.wait_for(runtime.drain(), timeout=30)
    await record_pings(publisher, [("after", 20)])
    await asyncio.wait_for(runtime.drain(), timeout=30)

    assert (await publisher.outbox_status()).pending == 0
    assert sorted(seq for _, seq in handled.order) == list(range(21))


async def test_published_rows_are_purged_past_their_age_under_steady_load(
    pub_and_reader: tuple[Runtime, Handled],
) -> None:
    runtime, _ = pub_and_reader
    publisher = runtime.module("pub")
    clock = runtime.clock
    assert isinstance(clock, ManualClock)

    for step in range(20):
        await record_pings(publisher, [(f"key-{n}", step * 5 + n) for n in range(5)])
        await runtime.drain()
        clock.advance(timedelta(seconds=10))
    kept = await _published_once_purged(runtime, at_most=40)

    assert kept <= 40, f"published rows kept: {kept} of 100 (60 s of retention is 30 rows)"


async def test_the_purge_runs_off_the_event_loop_on_sqlite(
    pub_and_reader: tuple[Runtime, Handled], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _ = pub_and_reader
    publisher = runtime.module("pub")
    if publisher.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's statements never run on the event loop")
    on_the_worker_thread: list[str] = []
    original = aiosqlite.Connection._execute

    async def recorded(self: aiosqlite.Connection, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        if len(args) > 1 and isinstance(args[1], str):
            on_the_worker_thread.append(args[1])
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", recorded)
    await publisher.relay.purge()  # a scan of every published row: not on the loop

    assert any(statement.startswith("DELETE FROM pub_outbox") for statement in on_the_worker_thread)


async def _published_once_purged(runtime: Runtime, at_most: int, timeout: float = 10.0) -> int:
    """The published-row count, polled until the purge timer brought it to `at_most`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        published = (await runtime.module("pub").outbox_status()).published
        if published <= at_most or asyncio.get_running_loop().time() > deadline:
            return published
        await asyncio.sleep(0.05)
