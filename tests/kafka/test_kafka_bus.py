"""The Kafka bus against a real broker: order, groups, dead letters, trace context, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cloudtaskhub.events.bus import topic_for
from cloudtaskhub.events.kafka import KafkaBus, dlq_topic
from cloudtaskhub.runtime import Runtime
from entrypoints.split import start_broker
from tests.support.broker import Broker
from tests.support.kafka import RecordingConsumer, kafka_settings, ping, unique_name, wait_for
from tests.support.tally import tallies, tally_module

pytestmark = pytest.mark.kafka

StartBus = Callable[..., Awaitable[KafkaBus]]


@pytest.fixture
async def start_bus(broker: Broker, tmp_path: Path) -> AsyncIterator[StartBus]:
    buses: list[KafkaBus] = []

    async def start(consumers: list[RecordingConsumer], publishers: list[str]) -> KafkaBus:
        bus = KafkaBus(kafka_settings(broker.bootstrap, tmp_path))
        buses.append(bus)
        await bus.start(consumers, publishers)
        return bus

    yield start
    for bus in buses:
        await bus.stop()


async def read_topic(bootstrap: str, topic: str, count: int) -> list:  # type: ignore[type-arg]
    reader = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await reader.start()
    records: list = []  # type: ignore[type-arg]
    try:
        async with asyncio.timeout(30):
            while len(records) < count:
                for batch in (await reader.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    finally:
        await reader.stop()
    return records


async def test_events_of_one_key_arrive_in_order_across_four_partitions(start_bus, broker):  # type: ignore[no-untyped-def]
    source = unique_name("orders")
    consumer = RecordingConsumer(unique_name("reader"), {source})
    bus = await start_bus([consumer], [source])
    keys = [f"aggregate-{n}" for n in range(8)]

    for seq in range(120):
        await bus.publish([ping(source, keys[seq % len(keys)], seq)])
    await wait_for(lambda: len(consumer.received) == 120, what="120 events")

    assert all(seqs == sorted(seqs) for seqs in consumer.seqs_by_key().values())
    assert len(bus.assignment(consumer.module)) == 4
    records = await read_topic(broker.bootstrap, topic_for(source), 120)
    assert len({r.partition for r in records}) > 1
    assert all(len({r.partition for r in records if r.key == k.encode()}) == 1 for k in keys)


async def test_two_consumers_in_one_group_share_the_partitions(start_bus):  # type: ignore[no-untyped-def]
    source = unique_name("shared")
    group = unique_name("workers")
    first, second = RecordingConsumer(group, {source}), RecordingConsumer(group, {source})
    one = await start_bus([first], [source])
    two = await start_bus([second], [source])
    await wait_for(
        lambda: len(one.assignment(group)) == len(two.assignment(group)) == 2,
        timeout=45,
        what="the group to balance",
    )

    await one.publish([ping(source, f"key-{n}", n) for n in range(40)])
    await wait_for(lambda: len(first.received) + len(second.received) == 40, what="40 events")

    assert one.assignment(group).isdisjoint(two.assignment(group))
    assert first.received
    assert second.received
    assert set(first.seqs_by_key()).isdisjoint(second.seqs_by_key())


async def test_a_poison_event_lands_in_the_dead_letter_topic_and_the_stream_goes_on(broker, tmp_path):  # type: ignore[no-untyped-def]
    source, name = unique_name("feed"), unique_name("tally")
    settings = kafka_settings(broker.bootstrap, tmp_path, handler_max_attempts=2)
    runtime = Runtime([tally_module(name, source)], settings)
    await runtime.start(background=False)
    try:
        poison = ping(source, "poison-1", 2)
        await runtime.bus.publish([ping(source, "poison-1", 1)])
        await runtime.bus.publish([poison, ping(source, "healthy", 3)])

        module = runtime.module(name)
        dead = await read_topic(broker.bootstrap, dlq_topic(name), 2)
        done = await _eventually_tallied(module, {("healthy", 3)})
    finally:
        await runtime.stop()

    headers = dict(dead[1].headers)
    assert headers["ce_id"].decode() == str(poison.id)
    assert headers["cth_error"].decode() == "ValueError: poison pill poison-1"
    assert headers["cth_attempts"] == b"2"
    assert headers["cth_failed_at"].decode().endswith("Z")
    assert msgspec.json.decode(dead[1].value) == {"key": "poison-1", "seq": 2}
    assert done == {("healthy", 3): 1}


async def _eventually_tallied(module, wanted):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(30):
        while not wanted <= set(found := await tallies(module)):
            await asyncio.sleep(0.1)
    return found


async def test_a_record_that_is_no_cloudevent_is_dead_lettered_and_the_partition_goes_on(start_bus, broker):  # type: ignore[no-untyped-def]
    source = unique_name("raw")
    consumer = RecordingConsumer(unique_name("strict"), {source})
    bus = await start_bus([consumer], [source])
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic_for(source), b"{}", key=b"same", partition=0)
    finally:
        await producer.stop()

    await bus.publish([ping(source, "same", 1)])
    await wait_for(lambda: len(consumer.received) == 1, what="the next event")

    (dead,) = await read_topic(broker.bootstrap, dlq_topic(consumer.module), 1)
    assert dict(dead.headers)["cth_error"].startswith(b"not a CloudEvent")


async def test_trace_context_and_cloudevent_attributes_survive_the_hop(start_bus):  # type: ignore[no-untyped-def]
    source = unique_name("traced")
    consumer = RecordingConsumer(unique_name("tracer"), {source})
    bus = await start_bus([consumer], [source])
    sent = ping(
        source,
        "k",
        1,
        traceparent="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate="vendor=opaque",
        correlationid="request-42",
    )

    await bus.publish([sent])
    await wait_for(lambda: consumer.received, what="the event")

    assert consumer.received == [sent]


async def test_stopping_finishes_the_handler_in_flight_and_commits_it(start_bus):  # type: ignore[no-untyped-def]
    source, group = unique_name("slow"), unique_name("patient")
    slow = RecordingConsumer(group, {source}, delay=1.5)
    bus = await start_bus([slow], [source])
    await bus.publish([ping(source, "k", 1)])
    await wait_for(lambda: slow.started == 1, what="the handler to start")

    await bus.stop()
    successor = RecordingConsumer(group, {source})
    again = await start_bus([successor], [source])
    await again.publish([ping(source, "k", 2)])
    await wait_for(lambda: successor.received, what="the next event")

    assert slow.finished == 1
    assert successor.seqs_by_key() == {"k": [2]}


async def test_readiness_fails_when_the_broker_is_gone(tmp_path):  # type: ignore[no-untyped-def]
    child, bootstrap = start_broker(tmp_path)
    bus = KafkaBus(kafka_settings(bootstrap, tmp_path))
    try:
        await bus.start([], [unique_name("lonely")])
        await bus.check()

        child.kill()

        with pytest.raises(Exception):  # noqa: B017, PT011 - any failure means "not ready"
            await bus.check()
    finally:
        child.stop()
        await bus.stop()


async def test_a_consumer_behind_takes_each_partition_in_batches_in_order(broker, tmp_path):  # type: ignore[no-untyped-def]
    source = unique_name("backlog")
    publisher = KafkaBus(kafka_settings(broker.bootstrap, tmp_path))
    await publisher.start([], [source])
    keys = [f"aggregate-{n}" for n in range(8)]
    try:
        for start in range(0, 200, 50):
            await publisher.publish([ping(source, keys[seq % 8], seq) for seq in range(start, start + 50)])
    finally:
        await publisher.stop()
    consumer = RecordingConsumer(unique_name("late"), {source})
    bus = KafkaBus(kafka_settings(broker.bootstrap, tmp_path, bus_consumer_batch_max=16))
    await bus.start([consumer], [source])
    try:
        await wait_for(lambda: len(consumer.received) == 200, timeout=60, what="200 events")
    finally:
        await bus.stop()

    assert consumer.seqs_by_key() == {k: list(range(n, 200, 8)) for n, k in enumerate(keys)}
    assert 1 < max(consumer.batches) <= 16
