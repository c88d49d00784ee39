"""The per-module operations API: each module lists and replays its own dead letters
and reports the events it published, under its own path prefix, for admins only."""

from __future__ import annotations

import dataclasses

import pytest

from cloudtaskhub.testing import ModuleHarness
from modules.auth import module as auth
from modules.auth.contracts import UserRegistered
from tests.kernel.probe import failures, probe, seen_emails

REGISTRATION = {"email": "ada@example.com", "password": "correct horse battery", "display_name": "Ada"}
#: The probe, serving a prefix so it gets an operations router.
served_probe = dataclasses.replace(probe, path_prefixes=("/api/v1/probe",))


@pytest.fixture(autouse=True)
def _reset_failures():  # type: ignore[no-untyped-def]
    failures.remaining = 0
    failures.attempts = 0


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([auth, served_probe], database_url=database_url, data_dir=str(tmp_path)) as h:
        yield h


@pytest.fixture
def admin(harness):  # type: ignore[no-untyped-def]
    return harness.user("root@example.com", roles=["admin"])


@pytest.fixture
async def dead_letter(harness):  # type: ignore[no-untyped-def]
    harness.expect_dead_letter(UserRegistered, consumer="probe")
    failures.remaining = 10_000
    await harness.post("/api/v1/auth/register", json=REGISTRATION)
    failures.remaining = 0
    module = harness.runtime.module("probe")
    assert await module.dead_letter_count() == 1


async def test_admin_lists_the_modules_own_dead_letters(harness, admin, dead_letter):  # type: ignore[no-untyped-def]
    probe_page = await harness.get("/api/v1/probe/admin/dead-letters", user=admin)
    auth_page = await harness.get("/api/v1/auth/admin/dead-letters", user=admin)

    assert probe_page.status_code == 200
    [item] = probe_page.json()["items"]
    assert item["type"] == "cloudtaskhub.auth.user_registered.v1"
    assert "probe told to fail" in item["error"]
    assert auth_page.json() == {"module": "auth", "items": []}


async def test_replaying_all_runs_the_handler_and_clears_them(harness, admin, dead_letter):  # type: ignore[no-untyped-def]
    response = await harness.post("/api/v1/probe/admin/dead-letters/replay", user=admin)

    assert response.status_code == 200
    assert len(response.json()["replayed"]) == 1
    assert await seen_emails(harness.runtime.module("probe")) == {"ada@example.com": 1}
    after = await harness.get("/api/v1/probe/admin/dead-letters", user=admin)
    assert after.json()["items"] == []


async def test_a_replay_failing_again_answers_409_and_keeps_it(harness, admin, dead_letter):  # type: ignore[no-untyped-def]
    listed = await harness.get("/api/v1/probe/admin/dead-letters", user=admin)
    dead_letter_id = listed.json()["items"][0]["id"]
    failures.remaining = 1

    response = await harness.post(f"/api/v1/probe/admin/dead-letters/{dead_letter_id}/replay", user=admin)

    assert response.status_code == 409
    assert "probe told to fail" in response.json()["detail"]
    assert await harness.runtime.module("probe").dead_letter_count() == 1


async def test_replaying_an_unknown_dead_letter_answers_404(harness, admin):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/probe/admin/dead-letters/0190a1b2-0000-7000-8000-000000000000/replay", user=admin
    )

    assert response.status_code == 404


async def test_non_admins_get_403(harness, dead_letter):  # type: ignore[no-untyped-def]
    user = harness.user("bob@example.com")

    listed = await harness.get("/api/v1/probe/admin/dead-letters", user=user)
    replayed = await harness.post("/api/v1/probe/admin/dead-letters/replay", user=user)

    assert (listed.status_code, replayed.status_code) == (403, 403)


async def test_event_rates_count_published_events_per_minute_and_type(harness, admin):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=REGISTRATION)
    await harness.post("/api/v1/auth/register", json={**REGISTRATION, "email": "bo@example.com"})

    response = await harness.get("/api/v1/auth/admin/events?minutes=15", user=admin)

    body = response.json()
    assert body["module"] == "auth"
    assert [(m["type"], m["count"]) for m in body["per_minute"]] == [
        ("cloudtaskhub.auth.user_registered.v1", 2)
    ]
