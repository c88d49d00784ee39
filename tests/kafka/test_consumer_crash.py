"""A consumer process killed with SIGKILL mid-stream and started again loses nothing
and applies nothing twice: offsets are committed only after the effect, and the
inbox absorbs the records delivered again."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from cloudtaskhub.events.kafka import KafkaBus
from entrypoints.split import Child, spawn
from tests.support.broker import Broker
from tests.support.kafka import kafka_settings, ping, unique_name, wait_for

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 300


def start_consumer(name: str, source: str, database: Path, broker: Broker) -> Child:
    command = [
        sys.executable, "-m", "tests.support.consumer_process",
        name, source, f"sqlite+aiosqlite:///{database}", broker.bootstrap,
    ]  # fmt: skip
    return spawn(f"consumer-{name}", command, database.parent)


def tally(database: Path, name: str) -> dict[tuple[str, int], int]:
    try:
        with sqlite3.connect(database, timeout=5) as connection:
            rows = connection.execute(f"SELECT key, seq, times FROM {name}_tally").fetchall()  # noqa: S608
    except sqlite3.OperationalError:  # not created yet, or busy
        return {}
    return {(key, seq): times for key, seq, times in rows}


async def test_a_consumer_killed_mid_stream_and_restarted_loses_nothing_and_applies_nothing_twice(
    broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    source, name = unique_name("stream"), unique_name("tally")
    database = tmp_path / "consumer.db"
    publisher = KafkaBus(kafka_settings(broker.bootstrap, tmp_path))
    await publisher.start([], [source])
    first = start_consumer(name, source, database, broker)
    try:
        for seq in range(EVENTS):
            await publisher.publish([ping(source, f"key-{seq % 10}", seq)])
        await wait_for(lambda: len(tally(database, name)) >= EVENTS // 10, timeout=60, what="consumption")

        first.kill()
        applied_before_kill = len(tally(database, name))
        second = start_consumer(name, source, database, broker)
        try:
            await wait_for(lambda: len(tally(database, name)) == EVENTS, timeout=90, what="every event")
        finally:
            second.stop()
    finally:
        first.stop()
        await publisher.stop()

    counts = tally(database, name)
    assert applied_before_kill < EVENTS
    assert set(counts) == {(f"key-{seq % 10}", seq) for seq in range(EVENTS)}
    assert set(counts.values()) == {1}
