"""The bench's event-spine plumbing: settings from the environment, batch sizes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bench.events import BatchLog, spine_environment, spine_overrides


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

    async def handle_batch(self, envelopes: Any) -> None:
        await asyncio.sleep(0)
        self.handled.extend(envelopes)


async def test_the_batch_log_counts_each_batch_after_it_returned() -> None:
    dispatcher = _Dispatcher()
    batches = BatchLog(dispatcher)

    await asyncio.gather(dispatcher.handle_batch([1, 2, 3]), dispatcher.handle_batch([4]))
    await batches.settled(1)

    assert dispatcher.handled == [1, 2, 3, 4]
    assert batches.last_end > 0
    assert batches.take() == {"batches": 2, "batch_mean": 2.0, "batch_max": 3}
    assert batches.take() == {"batches": 0}
