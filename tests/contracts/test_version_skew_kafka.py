"""Version skew on Kafka: old and new producers and consumers of one event on a real broker.

Every module name is unique per test, so the session's broker never mixes topics or groups.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from uuid import uuid4

import pytest
from prometheus_client import REGISTRY

from cloudtaskhub.module import Module
from cloudtaskhub.runtime import Runtime
from tests.contracts.skew import contracts_for, effects, producer, reader
from tests.support.broker import Broker, broker
from tests.support.kafka import kafka_settings, unique_name

__all__ = ["broker"]

pytestmark = pytest.mark.kafka


@asynccontextmanager
async def running(module: Module, bootstrap: str, folder: Path) -> AsyncIterator[Runtime]:
    folder.mkdir(parents=True, exist_ok=True)
    runtime = Runtime([module], kafka_settings(bootstrap, folder))
    await runtime.start(background=False)
    try:
        yield runtime
    finally:
        await runtime.stop()


async def record(runtime: Runtime, source: str, *events) -> None:  # type: ignore[no-untyped-def]
    async with runtime.module(source).uow.transaction() as tx:
        for event in events:
            await tx.record(event)


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.2)


def skipped(module: str) -> float:
    labels = {"module": module, "reason": "unknown_type"}
    return REGISTRY.get_sample_value("cloudtaskhub_events_skipped_total", labels) or 0.0


async def test_old_and_new_readers_lose_nothing_while_old_and_new_producers_run(broker: Broker, tmp_path):  # type: ignore[no-untyped-def]
    source, legacy, current = unique_name("ship"), unique_name("legacy"), unique_name("current")
    c = contracts_for(source)
    old_facts = [(uuid4(), f"old-{n}") for n in range(5)]
    new_facts = [(uuid4(), f"new-{n}") for n in range(5)]

    async with (
        running(reader(legacy, c.v1), broker.bootstrap, tmp_path / "legacy") as legacy_rt,
        running(reader(current, c.v2), broker.bootstrap, tmp_path / "current") as current_rt,
        running(producer(source, c.v1), broker.bootstrap, tmp_path / "old") as old_producer,
        running(producer(source, c.v2), broker.bootstrap, tmp_path / "new") as new_producer,
    ):
        for (old_id, old_city), (new_id, new_city) in zip(old_facts, new_facts, strict=True):
            await record(old_producer, source, c.old(old_id, old_city))
            await record(new_producer, source, c.new(new_id, new_city))

        async def legacy_has_all() -> bool:
            return len(await effects(legacy_rt.module(legacy))) == 10

        async def current_has_new() -> bool:
            return len(await effects(current_rt.module(current))) == 5

        await until(legacy_has_all, "the old reader to get all ten facts")
        await until(current_has_new, "the new reader to get the new producer's five facts")
        legacy_effects = await effects(legacy_rt.module(legacy))
        current_effects = await effects(current_rt.module(current))
        dead = [
            await legacy_rt.module(legacy).dead_letter_count(),
            await current_rt.module(current).dead_letter_count(),
        ]

    assert legacy_effects == {str(i): (city, 1) for i, city in old_facts + new_facts}
    assert current_effects == {str(i): (city, 1) for i, city in new_facts}
    assert dead == [0, 0]
    assert skipped(legacy) >= 5  # the v2 copies: skipped with a metric, not dead-lettered
    assert skipped(current) >= 10  # every v1


async def test_a_consumer_rolling_update_applies_each_fact_once(broker: Broker, tmp_path):  # type: ignore[no-untyped-def]
    source, name = unique_name("ship"), unique_name("reader")
    c = contracts_for(source)
    shared = tmp_path / "reader"  # both replicas of the consumer use its one database
    facts = [(uuid4(), f"city-{n}") for n in range(30)]

    async with (
        running(producer(source, c.v2), broker.bootstrap, tmp_path / "producer") as shipping,
        AsyncExitStack() as replicas,
    ):
        await replicas.enter_async_context(running(reader(name, c.v1), broker.bootstrap, shared))
        old_stopped = replicas.pop_all()
        for parcel, city in facts[:10]:
            await record(shipping, source, c.new(parcel, city))
        new_rt = await replicas.enter_async_context(running(reader(name, c.v2), broker.bootstrap, shared))
        for parcel, city in facts[10:20]:  # both replicas in the group: partitions move
            await record(shipping, source, c.new(parcel, city))
        await old_stopped.aclose()  # the old replica leaves: its partitions move to the new one
        for parcel, city in facts[20:]:
            await record(shipping, source, c.new(parcel, city))

        async def all_applied() -> bool:
            return len(await effects(new_rt.module(name))) == 30

        await until(all_applied, "all thirty facts")
        applied = await effects(new_rt.module(name))
        dead = await new_rt.module(name).dead_letter_count()

    assert applied == {str(parcel): (city, 1) for parcel, city in facts}
    assert dead == 0
