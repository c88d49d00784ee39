"""Consumers take their events in batches: one transaction, a savepoint per event.

Each test runs a real Runtime (outbox, relay, in-process bus, dispatcher) with one
lane per consumer, so the events one transaction records reach the consumer as one
batch; the batch-size histogram shows that they did.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event, func, select

from cloudtaskhub.clock import ManualClock
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.module import Module
from cloudtaskhub.runtime import ModuleRuntime, Runtime
from cloudtaskhub.testing import test_settings as settings_for_tests
from tests.kernel.spine import Handled, consumer_module, publisher_module, record_pings, rows_handled
from tests.support.kafka import ping, wait_for

StartRuntime = Callable[..., Any]


@pytest.fixture
async def start_runtime(database_url: str, tmp_path: Path) -> AsyncIterator[StartRuntime]:
    runtimes: list[Runtime] = []

    async def start(modules: list[Module], **settings: Any) -> Runtime:
        bus = InProcessBus(lanes=1, batch_max=settings.pop("batch_max", 100))
        runtime = Runtime(
            modules, settings_for_tests(database_url, str(tmp_path), **settings), clock=ManualClock(), bus=bus
        )
        runtimes.append(runtime)
        await runtime.start(background=False)
        return runtime

    yield start
    for runtime in runtimes:
        await runtime.stop()


def largest_batch(module: str) -> float:
    """The upper bound of the histogram bucket holding `module`'s largest batch."""
    total = REGISTRY.get_sample_value("cloudtaskhub_event_batch_size_count", {"module": module})
    for bucket in (1, 2, 5, 10, 20, 50, 100, 200, 500):
        below = REGISTRY.get_sample_value(
            "cloudtaskhub_event_batch_size_bucket", {"module": module, "le": str(float(bucket))}
        )
        if total and below == total:
            return bucket
    return float("inf") if total else 0.0


async def dead_letters(module: ModuleRuntime) -> list[str]:
    table = module.tables.dead_letters
    async with module.uow.read() as session:
        return list((await session.scalars(select(table.c.type).order_by(table.c.failed_at))).all())


async def test_a_poison_event_mid_batch_is_retried_and_dead_lettered_alone_while_the_others_commit(
    start_runtime: StartRuntime,
) -> None:
    handled = Handled()
    #: Every attempt in order: (key, seq, "failed" | "ran").
    attempts: list[tuple[str, int, str]] = []

    async def poison_at_k3(event: Any) -> None:
        if (event.key, event.seq) == ("k", 3):
            attempts.append((event.key, event.seq, "failed"))
            raise ValueError("poison pill")
        attempts.append((event.key, event.seq, "ran"))

    name = "batchvictim"
    runtime = await start_runtime(
        [publisher_module("bpub"), consumer_module(name, "bpub", handled, before=poison_at_k3)]
    )
    pings = [("a", 1), ("k", 1), ("k", 2), ("b", 1), ("k", 3), ("c", 1), ("k", 4), ("a", 2), ("k", 5)]

    await record_pings(runtime.module("bpub"), pings)
    await asyncio.wait_for(runtime.drain(), timeout=30)

    victim = runtime.module(name)
    assert largest_batch(name) >= len(pings)
    # Everything but the poison took effect, once each, in order per key.
    assert handled.seqs_by_key() == {"a": [1, 2], "k": [1, 2, 4, 5], "b": [1], "c": [1]}
    assert await rows_handled(victim) == len(pings) - 1
    # The poison was tried as often as one event alone is, then dead-lettered once.
    assert attempts.count(("k", 3, "failed")) == runtime.settings.handler_max_attempts
    assert await dead_letters(victim) == ["cloudtaskhub.bpub.ping.v1"]
    # The other keys' events after it committed with the batch, before its retries;
    # its own key's later events waited until it was dead-lettered.
    first_retry = [i for i, a in enumerate(attempts) if a == ("k", 3, "failed")][1]
    assert attempts.index(("c", 1, "ran")) < first_retry
    assert attempts.index(("a", 2, "ran")) < first_retry
    last_failure = max(i for i, a in enumerate(attempts) if a == ("k", 3, "failed"))
    assert attempts.index(("k", 4, "ran")) > last_failure
    assert attempts.count(("k", 4, "ran")) == 1


async def test_a_poison_event_that_recovers_on_a_retry_takes_effect_once_before_its_key_goes_on(
    start_runtime: StartRuntime,
) -> None:
    handled = Handled()
    failures = {"left": 2}

    async def fails_twice_at_k2(event: Any) -> None:
        if (event.key, event.seq) == ("k", 2) and failures["left"]:
            failures["left"] -= 1
            raise ValueError("not yet")

    name = "batchflaky"
    runtime = await start_runtime(
        [publisher_module("bpubtwo"), consumer_module(name, "bpubtwo", handled, before=fails_twice_at_k2)]
    )
    pings = [("k", 1), ("x", 1), ("k", 2), ("x", 2), ("k", 3), ("y", 1)]

    await record_pings(runtime.module("bpubtwo"), pings)
    await asyncio.wait_for(runtime.drain(), timeout=30)

    assert largest_batch(name) >= len(pings)
    assert handled.seqs_by_key() == {"k": [1, 2, 3], "x": [1, 2], "y": [1]}
    assert await rows_handled(runtime.module(name)) == len(pings)
    assert await dead_letters(runtime.module(name)) == []


async def test_a_transient_failure_mid_batch_reruns_the_batch_and_applies_each_event_once(
    start_runtime: StartRuntime,
) -> None:
    handled = Handled()
    failures = {"left": 1}

    async def connection_reset_once(event: Any) -> None:
        if event.seq == 4 and failures["left"]:
            failures["left"] -= 1
            raise ConnectionResetError("database connection reset")

    name = "batchtransient"
    runtime = await start_runtime(
        [
            publisher_module("bpubthree"),
            consumer_module(name, "bpubthree", handled, before=connection_reset_once),
        ]
    )
    pings = [(f"key-{n % 3}", n) for n in range(8)]

    await record_pings(runtime.module("bpubthree"), pings)
    await asyncio.wait_for(runtime.drain(), timeout=30)

    # The rows before the failure were rolled back with the batch and written again:
    # a second write of one (key, seq) would break the table's primary key.
    assert await rows_handled(runtime.module(name)) == len(pings)
    assert await dead_letters(runtime.module(name)) == []
    assert handled.attempts > len(pings)


async def test_a_duplicate_in_a_batch_and_an_event_handled_before_take_effect_once(
    start_runtime: StartRuntime,
) -> None:
    handled = Handled()
    name = "batchdupes"
    runtime = await start_runtime([publisher_module("bpubfour"), consumer_module(name, "bpubfour", handled)])
    earlier = ping("bpubfour", "k", 1)
    dispatcher = runtime.module(name).dispatcher
    assert dispatcher is not None
    await dispatcher.handle_batch([earlier])
    later: list[Envelope] = [ping("bpubfour", "k", 2), ping("bpubfour", "j", 1)]

    await dispatcher.handle_batch([earlier, later[0], later[1], later[0], earlier])

    assert handled.seqs_by_key() == {"k": [1, 2], "j": [1]}
    assert await rows_handled(runtime.module(name)) == 3
    inbox = runtime.module(name).tables.inbox
    async with runtime.module(name).uow.read() as session:
        assert await session.scalar(select(func.count()).select_from(inbox)) == 3


async def test_batches_stay_within_the_batch_maximum(start_runtime: StartRuntime) -> None:
    handled = Handled()
    name = "batchsmall"
    runtime = await start_runtime(
        [publisher_module("bpubfive"), consumer_module(name, "bpubfive", handled)], batch_max=4
    )
    pings = [(f"key-{n % 5}", n) for n in range(30)]

    await record_pings(runtime.module("bpubfive"), pings)
    await asyncio.wait_for(runtime.drain(), timeout=30)

    assert await rows_handled(runtime.module(name)) == len(pings)
    assert largest_batch(name) == 5  # the bucket holding 3 < size <= 5: batches of 4


async def test_batches_of_any_size_run_their_list_statements_in_a_few_shapes(
    start_runtime: StartRuntime,
) -> None:
    """Each SQL text is one more prepared statement in every pooled connection's cache:
    a text per batch size made a long-running process grow for minutes (see `db.shapes`)."""
    handled = Handled()
    name = "batchshapes"
    runtime = await start_runtime([publisher_module("bpubsix"), consumer_module(name, "bpubsix", handled)])
    consumer, publisher = runtime.module(name), runtime.module("bpubsix")
    dispatcher = consumer.dispatcher
    assert dispatcher is not None
    texts: set[str] = set()

    def remember(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        texts.add(statement)

    engines = {consumer.engine.sync_engine, publisher.engine.sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", remember)
    try:
        for size in range(2, 41):
            await dispatcher.handle_batch([ping("bpubsix", f"direct-{size}", n) for n in range(size)])
        for size in range(1, 41):
            await record_pings(publisher, [(f"relayed-{size}", n) for n in range(size)])
            await asyncio.wait_for(runtime.drain(), timeout=30)
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", remember)

    assert await rows_handled(consumer) == sum(range(2, 41)) + sum(range(1, 41))
    inbox, outbox = consumer.tables.inbox.name, publisher.tables.outbox.name
    claims = {t for t in texts if t.lstrip().upper().startswith("INSERT") and inbox in t}
    marks = {t for t in texts if t.lstrip().upper().startswith("UPDATE") and outbox in t}
    # Lists padded to a power of two: 2, 4, 8, 16, 32, 64 (and the lone event's claim).
    assert 1 <= len(claims) <= 7, sorted(claims)
    assert 1 <= len(marks) <= 7, sorted(marks)


async def test_a_stopping_process_finishes_the_event_in_hand_not_its_batch_and_the_rest_follow_a_start(
    start_runtime: StartRuntime,
) -> None:
    handled = Handled()
    first_started = asyncio.Event()

    async def slow(_event: Any) -> None:
        first_started.set()
        await asyncio.sleep(0.1)  # a busy database: 40 events take 4 s, longer than a stop may

    name = "batchstop"
    pings = [(f"key-{n % 4}", n) for n in range(40)]
    modules = [publisher_module("bpubseven"), consumer_module(name, "bpubseven", handled, before=slow)]
    runtime = await start_runtime(modules)
    await record_pings(runtime.module("bpubseven"), pings)
    await asyncio.wait_for(first_started.wait(), timeout=30)

    await runtime.stop()

    assert 0 < await rows_handled(runtime.module(name)) < len(pings)
    restarted = await start_runtime(modules)
    await asyncio.wait_for(restarted.drain(), timeout=60)
    assert await rows_handled(restarted.module(name)) == len(pings)
    assert handled.seqs_by_key() == {
        f"key-{k}": [n for key, n in pings if key == f"key-{k}"] for k in range(4)
    }


async def test_a_stopping_process_makes_no_more_attempts_at_an_event_that_keeps_failing(
    start_runtime: StartRuntime,
) -> None:
    handled = Handled()
    state = {"database down": True, "winding down": False, "attempts while stopping": 0}
    failed_once = asyncio.Event()

    async def database_down(_event: Any) -> None:
        if state["winding down"]:
            state["attempts while stopping"] += 1
        if state["database down"]:
            failed_once.set()
            raise ConnectionResetError("database connection reset")  # transient: retried

    name = "batchretrystop"
    modules = [
        publisher_module("bpubeight"),
        consumer_module(name, "bpubeight", handled, before=database_down),
    ]
    runtime = await start_runtime(modules)
    dispatcher = runtime.module(name).dispatcher
    assert dispatcher is not None
    wind_down = dispatcher.wind_down

    def noted_wind_down() -> None:
        state["winding down"] = True
        wind_down()

    dispatcher.wind_down = noted_wind_down  # type: ignore[method-assign]
    await record_pings(runtime.module("bpubeight"), [("k", 1)])
    await asyncio.wait_for(failed_once.wait(), timeout=30)

    await runtime.stop()

    assert state["winding down"]
    assert state["attempts while stopping"] == 0
    assert await rows_handled(runtime.module(name)) == 0
    state.update({"database down": False, "winding down": False})
    restarted = await start_runtime(modules)
    await asyncio.wait_for(restarted.drain(), timeout=60)
    assert handled.seqs_by_key() == {"k": [1]}


async def test_events_that_queue_while_a_batch_waits_for_the_write_lock_join_it(
    start_runtime: StartRuntime, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL has no process-wide write lock to wait for")
    handled = Handled()
    name, source = "batchjoin", "bpubseven"
    runtime = await start_runtime([publisher_module(source), consumer_module(name, source, handled)])
    consumer = runtime.module(name)
    dispatcher = consumer.dispatcher
    assert dispatcher is not None
    queued: list[Envelope] = []
    #: How many events had queued when the batch asked for more.
    asked: list[int] = []

    def more() -> list[Envelope]:
        asked.append(len(queued))
        return list(queued)

    async with consumer.uow.transaction() as tx:
        await tx.session.connection()  # this process's write lock on the consumer's database
        # In a context of its own, as the bus runs it (not inside this transaction).
        first = ping(source, "k", 1)
        batch = asyncio.create_task(dispatcher.handle_batch([first], more), context=contextvars.Context())
        # The batch has its connection and waits for the lock behind this transaction.
        pool = consumer.engine.sync_engine.pool
        await wait_for(lambda: pool.checkedout() >= 2, what="the batch's checkout")
        queued += [ping(source, "k", 2), ping(source, "j", 1), ping(source, "k", 3)]
    await asyncio.wait_for(batch, timeout=30)

    assert asked == [3]  # asked once, after it had the lock (all three had queued), not before
    assert handled.seqs_by_key() == {"k": [1, 2, 3], "j": [1]}
    assert await rows_handled(consumer) == 4
