"""The in-process bus under faults: a stuck consumer, a consumer that cannot settle,
a dead-letter the bus refuses. Each through a real Runtime, relay and dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from cloudtaskhub.clock import ManualClock
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.module import Module
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.testing import test_settings as settings_for_tests
from tests.kernel.spine import Handled, consumer_module, publisher_module, record_pings
from tests.support.kafka import RecordingConsumer, ping, wait_for

StartRuntime = Callable[..., Any]


@pytest.fixture
async def start_runtime(database_url: str, tmp_path: Path) -> AsyncIterator[StartRuntime]:
    runtimes: list[Runtime] = []

    async def start(modules: list[Module], bus: InProcessBus, **settings: Any) -> Runtime:
        runtime = Runtime(
            modules, settings_for_tests(database_url, str(tmp_path), **settings), clock=ManualClock(), bus=bus
        )
        runtimes.append(runtime)
        await runtime.start(background=False)
        return runtime

    yield start
    for runtime in runtimes:
        await runtime.stop()


async def _database_down(_event: Any) -> None:
    """The stuck consumer's database: a PostgreSQL server that refuses connections."""
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:9/down")
    try:
        async with engine.connect():
            pass
    finally:
        await engine.dispose()


async def test_a_consumer_whose_database_is_down_holds_up_no_other_consumer(start_runtime) -> None:  # type: ignore[no-untyped-def]
    healthy, stuck = Handled(), Handled()
    down = {"now": True}

    async def database(event: Any) -> None:
        if down["now"]:
            await _database_down(event)

    modules = [
        publisher_module("pub"),
        consumer_module("healthy", "pub", healthy),
        consumer_module("stuck", "pub", stuck, before=database),
    ]
    runtime = await start_runtime(modules, InProcessBus(lanes=4, capacity=20), outbox_batch_size=5)
    pings = [(f"key-{n % 10}", n) for n in range(150)]

    for start in range(0, 150, 10):
        await record_pings(runtime.module("pub"), pings[start : start + 10])
    await wait_for(lambda: len(healthy.order) == 150, timeout=30, what="the healthy consumer")
    down["now"] = False
    await asyncio.wait_for(runtime.drain(), timeout=30)

    assert healthy.seqs_by_key() == stuck.seqs_by_key() == _by_key(pings)


def _by_key(pings: list[tuple[str, int]]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for key, seq in pings:
        found.setdefault(key, []).append(seq)
    return found


class _SettlesOnSecondTry(RecordingConsumer):
    """Cannot settle its first event once (e.g. its database failed writing a dead letter)."""

    def __init__(self) -> None:
        super().__init__("flaky", {"pub"})
        self.failed = False

    async def handle(self, envelope: Envelope) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionResetError("dead letter not written")
        await super().handle(envelope)


async def test_a_lane_does_not_pass_an_event_its_consumer_could_not_settle() -> None:
    consumer = _SettlesOnSecondTry()
    bus = InProcessBus(lanes=1)
    await bus.start([consumer], ["pub"])

    settled = await bus.publish([ping("pub", "one-key", 1), ping("pub", "one-key", 2)])
    await asyncio.wait_for(asyncio.gather(*settled), timeout=10)
    await bus.stop()

    assert consumer.seqs_by_key() == {"one-key": [1, 2]}


class _DeadLetterTopicDown(InProcessBus):
    """Refuses the first two dead letters, as a broker whose DLQ topic is unavailable."""

    def __init__(self) -> None:
        super().__init__(lanes=2)
        self.refusals = 2
        self.dead_letters: list[Envelope] = []

    async def dead_letter(self, consumer: str, envelope: Envelope, error: str, attempts: int) -> None:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionRefusedError("dead-letter topic unavailable")
        self.dead_letters.append(envelope)


async def test_a_dead_letter_the_bus_refuses_twice_is_written_once_and_the_handler_not_rerun(
    start_runtime,
) -> None:  # type: ignore[no-untyped-def]
    handled = Handled()

    async def poison(_event: Any) -> None:
        raise ValueError("poison pill")

    bus = _DeadLetterTopicDown()
    runtime = await start_runtime(
        [publisher_module("pub"), consumer_module("victim", "pub", handled, before=poison)], bus
    )

    await record_pings(runtime.module("pub"), [("poisoned", 1)])
    await asyncio.wait_for(runtime.drain(), timeout=30)

    victim = runtime.module("victim")
    table = victim.tables.dead_letters
    async with victim.uow.read() as session:
        rows = await session.scalar(select(func.count()).select_from(table))
    assert rows == 1
    assert handled.attempts == runtime.settings.handler_max_attempts
    assert len(bus.dead_letters) == 1
