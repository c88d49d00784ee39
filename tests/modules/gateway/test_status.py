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
    assert all(p["alive"] and p["bus"] == "memory" for p in status["modules"])


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


async def test_anyone_sees_the_topology_but_only_admins_see_process_names_and_backlog(database_url, tmp_path):  # type: ignore[no-untyped-def]
    # Review finding: /api/v1/status showed host:pid and the outbox backlog to anyone.
    async with ModuleHarness(ALL_MODULES, database_url=database_url, data_dir=str(tmp_path)) as harness:
        await asyncio.gather(*await publish_heartbeat_once(harness.runtime))
        admin = harness.user("root@example.com", roles=["admin"])
        member = harness.user("ada@example.com")

        anonymous = (await harness.get("/api/v1/status")).json()
        as_member = (await harness.get("/api/v1/status", headers=member.headers)).json()
        as_admin = (await harness.get("/api/v1/status", headers=admin.headers)).json()
        forged = await harness.get("/api/v1/status", headers={"Authorization": "Bearer forged"})

    for view in (anonymous, as_member):
        assert {p["process"] for p in view["modules"]} == {"process-1"}  # one process, no name
        assert all(p["outbox_backlog"] is None and p["dead_letters"] is None for p in view["modules"])
        assert all(p["alive"] for p in view["modules"])
    assert {p["process"] for p in as_admin["modules"]} == {"test-process"}
    assert all(isinstance(p["outbox_backlog"], int) for p in as_admin["modules"])
    assert forged.status_code == 401
