"""Helpers for tests of the Kafka bus: settings, envelopes, a recording consumer."""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from cloudtaskhub.clock import new_id
from cloudtaskhub.events.bus import BatchCutShort
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.settings import Settings
from cloudtaskhub.testing import test_settings

__all__ = ["RecordingConsumer", "kafka_settings", "ping", "unique_name", "wait_for"]


def unique_name(prefix: str) -> str:
    """A module name (lowercase letters) no other test on the broker uses."""
    return prefix + "_" + "".join(random.choices(string.ascii_lowercase, k=8))


def kafka_settings(bootstrap: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bus": "kafka",
        "kafka_bootstrap": bootstrap,
        "kafka_idempotent_producer": False,
        "kafka_session_timeout_ms": 6000,
        "kafka_heartbeat_interval_ms": 500,
        "kafka_metadata_max_age_ms": 1000,
        "kafka_topic_partitions": 4,
    }
    values.update(overrides)
    database_url = values.pop("database_url", f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    return test_settings(database_url, str(tmp_path), **values)


def ping(source: str, key: str, seq: int, **fields: Any) -> Envelope:
    data = {"key": key, "seq": seq}
    return Envelope(
        id=new_id(),
        source=source,
        type=f"cloudtaskhub.{source}.ping.v1",
        time=datetime.now(UTC),
        subject=key,
        data=msgspec.Raw(msgspec.json.encode(data)),
        **fields,
    )


async def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `condition` until it is truthy; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


class RecordingConsumer:
    """Implements the bus's `Consumer` protocol; remembers what it was handed."""

    def __init__(self, module: str, sources: set[str], *, delay: float = 0.0) -> None:
        self._module = module
        self._sources = frozenset(sources)
        self.delay = delay
        self.received: list[Envelope] = []
        self.started = 0
        self.finished = 0
        #: Size of each batch the bus handed over.
        self.batches: list[int] = []
        self.winding_down = False

    @property
    def module(self) -> str:
        return self._module

    @property
    def sources(self) -> frozenset[str]:
        return self._sources

    def handles(self, type_: str) -> bool:
        return "*" in self._sources or type_.split(".")[1] in self._sources

    async def handle(self, envelope: Envelope) -> None:
        self.started += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.received.append(envelope)
        self.finished += 1

    async def handle_batch(
        self, envelopes: Sequence[Envelope], more: Callable[[], Sequence[Envelope]] | None = None
    ) -> None:
        envelopes = [*envelopes, *(more() if more is not None else ())]
        self.batches.append(len(envelopes))
        for index, envelope in enumerate(envelopes):
            if self.winding_down:
                raise BatchCutShort(f"{len(envelopes) - index} left")
            await self.handle(envelope)

    def wind_down(self) -> None:
        self.winding_down = True

    def seqs_by_key(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for envelope in self.received:
            data = msgspec.json.decode(envelope.data)
            found.setdefault(data["key"], []).append(data["seq"])
        return found
