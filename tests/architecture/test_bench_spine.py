"""The bench's event-spine plumbing: settings from the environment, batch sizes, the
latency phase's paced producers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.events import BatchLog, latency_producers, paced, spine_environment, spine_overrides


def test_only_spine_settings_come_from_the_environment() -> None:
    environ = {
        "CTH_BUS_LANES": "16",
        "CTH_KAFKA_FETCH_MAX_WAIT_MS": "5",
        "CTH_OUTBOX_BATCH_SIZE": "500",
        "CTH_KAFKA_BOOTSTRAP": "elsewhere:9092",  # the bench starts its own broker
        "CTH_LOG_LEVEL": "DEBUG",
        "CTH_DATABASE_URL": "sqlite+aiosqlite:///elsewhere.db",
    }

    assert spine_overrides(environ) == {
        "bus_lanes": 16,
        "kafka_fetch_max_wait_ms": 5,
        "outbox_batch_size": 500,
    }
    assert set(spine_environment(environ)) == {
        "CTH_BUS_LANES",
        "CTH_KAFKA_FETCH_MAX_WAIT_MS",
        "CTH_OUTBOX_BATCH_SIZE",
    }


def test_a_misspelt_spine_variable_stops_the_bench() -> None:
    with pytest.raises(SystemExit, match=r"CTH_BUS_LANE\b"):
        spine_overrides({"CTH_BUS_LANE": "16"})


def test_a_value_the_setting_cannot_take_stops_the_bench() -> None:
    with pytest.raises(ValueError, match="CTH_BUS_LANES"):
        spine_overrides({"CTH_BUS_LANES": "many"})


class _Dispatcher:
    def __init__(self) -> None:
        self.handled: list[int] = []

    async def handle_batch(self, envelopes: Any, more: Any = None) -> None:
        await asyncio.sleep(0)
        self.handled.extend(envelopes)
        if more is not None:
            self.handled.extend(more())


async def test_the_batch_log_counts_each_batch_after_it_returned() -> None:
    dispatcher = _Dispatcher()
    batches = BatchLog(dispatcher)

    await asyncio.gather(dispatcher.handle_batch([1, 2, 3]), dispatcher.handle_batch([4]))
    await batches.settled(1)

    assert dispatcher.handled == [1, 2, 3, 4]
    assert batches.last_end > 0
    assert batches.take() == {"batches": 2, "batch_mean": 2.0, "batch_max": 3}
    assert batches.take() == {"batches": 0}


async def test_paced_producers_keep_the_schedule_when_one_send_takes_longer_than_the_gap() -> None:
    in_flight, most, started = 0, 0, []

    async def send(seq: int) -> None:  # 30 ms a send, one due every 10 ms
        nonlocal in_flight, most
        started.append(seq)
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.03)
        in_flight -= 1

    schedule = await paced(send, 1000, 20, 100, producers=8)

    assert started == list(range(1000, 1020))  # in order, each once
    assert most >= 2  # a slow send did not hold up the ones due after it
    assert min(schedule.lags_ms) > -1  # none before its time
    assert schedule.due[1019] - schedule.due[1000] == pytest.approx(0.19)
    assert schedule.ended > schedule.due[1019]


async def test_one_paced_producer_falls_behind_and_its_lag_says_so() -> None:
    async def send(seq: int) -> None:  # 15 ms a send, one due every 5 ms
        await asyncio.sleep(0.015)

    schedule = await paced(send, 0, 10, 200, producers=1)

    # event i starts after i sends of 15 ms, due at i × 5 ms: at least i × 10 ms late
    assert schedule.lags_ms[-1] >= 9 * 10 - 1


def test_the_latency_producers_come_from_the_bench_environment() -> None:
    assert latency_producers({}) >= 1
    assert latency_producers({"BENCH_LATENCY_PRODUCERS": "16"}) == 16
    with pytest.raises(SystemExit, match="BENCH_LATENCY_PRODUCERS"):
        latency_producers({"BENCH_LATENCY_PRODUCERS": "0"})
