"""The bus contract, written once and run against each bus: only the fixture changes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from cloudtaskhub.events.bus import Bus
from cloudtaskhub.events.kafka import KafkaBus
from cloudtaskhub.events.memory import InProcessBus
from tests.support.broker import Broker
from tests.support.kafka import RecordingConsumer, kafka_settings, ping, unique_name, wait_for

StartBus = Callable[[list[RecordingConsumer], list[str]], Awaitable[Bus]]


class BusContract:
    """Every bus must pass these; a subclass provides the `start_bus` fixture for its bus."""

    async def test_an_event_arrives_exactly_as_it_was_sent(self, start_bus: StartBus) -> None:
        source = unique_name("contract")
        consumer = RecordingConsumer(unique_name("reader"), {source})
        bus = await start_bus([consumer], [source])
        sent = ping(
            source, "k", 1, traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01", correlationid="c-1"
        )

        await bus.publish([sent])
        await wait_for(lambda: consumer.received, what="the event")

        assert consumer.received == [sent]

    async def test_events_of_one_key_keep_their_order(self, start_bus: StartBus) -> None:
        source = unique_name("ordered")
        consumer = RecordingConsumer(unique_name("reader"), {source})
        bus = await start_bus([consumer], [source])

        await bus.publish([ping(source, f"key-{n % 3}", n) for n in range(30)])
        await wait_for(lambda: len(consumer.received) == 30, what="30 events")

        assert all(seqs == sorted(seqs) for seqs in consumer.seqs_by_key().values())

    async def test_a_consumer_gets_only_the_sources_it_subscribes_to(self, start_bus: StartBus) -> None:
        wanted, other = unique_name("wanted"), unique_name("other")
        consumer = RecordingConsumer(unique_name("picky"), {wanted})
        bus = await start_bus([consumer], [wanted, other])

        await bus.publish([ping(other, "k", 1), ping(wanted, "k", 2)])
        await wait_for(lambda: consumer.received, what="the wanted event")

        assert consumer.seqs_by_key() == {"k": [2]}

    async def test_a_started_bus_is_ready(self, start_bus: StartBus) -> None:
        bus = await start_bus([RecordingConsumer(unique_name("idle"), {unique_name("quiet")})], [])

        await bus.check()

    async def test_stop_lets_the_handler_in_flight_finish(self, start_bus: StartBus) -> None:
        source = unique_name("slow")
        consumer = RecordingConsumer(unique_name("patient"), {source}, delay=0.5)
        bus = await start_bus([consumer], [source])
        await bus.publish([ping(source, "k", 1)])
        await wait_for(lambda: consumer.started == 1, what="the handler to start")

        await bus.stop()

        assert consumer.finished == 1


class TestInProcessBus(BusContract):
    @pytest.fixture
    async def start_bus(self) -> AsyncIterator[StartBus]:
        buses: list[InProcessBus] = []

        async def start(consumers: list[RecordingConsumer], publishers: list[str]) -> Bus:
            bus = InProcessBus()
            buses.append(bus)
            await bus.start(consumers, publishers)
            return bus

        yield start
        for bus in buses:
            await bus.stop()


@pytest.mark.kafka
class TestKafkaBus(BusContract):
    @pytest.fixture
    async def start_bus(self, broker: Broker, tmp_path: Path) -> AsyncIterator[StartBus]:
        buses: list[KafkaBus] = []

        async def start(consumers: list[RecordingConsumer], publishers: list[str]) -> Bus:
            bus = KafkaBus(kafka_settings(broker.bootstrap, tmp_path))
            buses.append(bus)
            await bus.start(consumers, publishers)
            return bus

        yield start
        for bus in buses:
            await bus.stop()
