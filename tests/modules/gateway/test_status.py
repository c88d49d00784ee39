"""`/api/v1/status`: the live topology, built from heartbeats on the bus only."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from cloudtaskhub.events.heartbeat import publish_heartbeat_once
from cloudtaskhub.testing import ModuleHarness
from entrypoints.registry import ALL_MODULES


async def test_status_lists_every_mounted_module_with_a_fresh_heartbeat(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(ALL_MODULES, database_url=database_url, data_dir=str(tmp_path)) as harness:
        await asyncio.gather(*await publish_heartbeat_once(harness.runtime))

        status = (await harness.get("/api/v1/status")).json()

    assert status["mode"] == "all-in-one"
    assert sorted(p["module"] for p in status["modules"]) == sorted(m.name for m in ALL_MODULES)
    assert all(
        p["alive"] and p["process"] == "test-process" and p["bus"] == "memory" for p in status["modules"]
    )


async def test_a_silent_process_is_shown_as_not_alive(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        ALL_MODULES, database_url=database_url, data_dir=str(tmp_path), heartbeat_interval_seconds=5.0
    ) as harness:
        await asyncio.gather(*await publish_heartbeat_once(harness.runtime))
        harness.clock.advance(timedelta(seconds=60))

        status = (await harness.get("/api/v1/status")).json()

    assert status["modules"]
    assert not any(p["alive"] for p in status["modules"])


async def test_index_names_the_api_and_links(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(ALL_MODULES, database_url=database_url, data_dir=str(tmp_path)) as harness:
        index = (await harness.get("/")).json()

    assert index["name"] == "CloudTaskHub"
    assert index["links"]["status"] == "/api/v1/status"
