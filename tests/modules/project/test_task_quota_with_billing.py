"""The task quota with the real billing module: its events and its clock decide."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloudtaskhub import testing
from cloudtaskhub.clock import ManualClock
from cloudtaskhub.testing import ModuleHarness
from modules.auth.contracts import UserRegistered
from modules.billing import module as billing
from modules.billing.service import provide_billing_service
from modules.project import module as project
from tests.modules.project.factories import API, create_project, create_task

NOV_17 = datetime(2026, 11, 17, 10, 30, tzinfo=UTC)
DEC_1 = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [project, billing],
        database_url=database_url,
        data_dir=str(tmp_path),
        clock=ManualClock(NOV_17),
        environ={"CTH_BILLING_CLOSE_PERIOD_IN_BACKGROUND": "false"},
    ) as h:
        yield h


@pytest.fixture
async def alice(harness: ModuleHarness) -> testing.TestUser:
    # The token verifier reads real time, not the manual clock: mint the token now.
    moment = harness.clock.now()
    harness.clock.set(datetime.now(UTC))  # type: ignore[attr-defined]
    user = harness.user("alice@example.com", "Alice")
    harness.clock.set(moment)  # type: ignore[attr-defined]
    await harness.publish(UserRegistered(user_id=user.id, email=user.email, display_name=user.display_name))
    return user


async def post_task(harness: ModuleHarness, user: testing.TestUser, project_id: str) -> int:
    response = await harness.post(f"{API}/projects/{project_id}/tasks", json={"title": "More"}, user=user)
    return response.status_code


async def test_free_limit_then_upgrade_then_a_new_period(harness, alice):  # type: ignore[no-untyped-def]
    apollo = (await create_project(harness, alice))["id"]
    for n in range(100):
        await create_task(harness, alice, apollo, title=f"Task {n}")

    refused = await harness.post(f"{API}/projects/{apollo}/tasks", json={"title": "101"}, user=alice)
    usage = (await harness.get(f"{API}/billing/usage", user=alice)).json()
    assert refused.status_code == 403
    assert (refused.json()["limit"], refused.json()["period_end"]) == (100, "2026-12-01T00:00:00Z")
    assert usage["tasks_created"] == 100

    await harness.put(f"{API}/billing/subscription", json={"plan": "pro"}, user=alice)
    assert await post_task(harness, alice, apollo) == 201
    await harness.put(f"{API}/billing/subscription", json={"plan": "free"}, user=alice)
    assert await post_task(harness, alice, apollo) == 403  # 101 this period: over free's 100 again

    harness.clock.set(DEC_1)  # type: ignore[attr-defined]
    assert await post_task(harness, alice, apollo) == 403  # billing has not closed the period yet
    await provide_billing_service(harness.runtime.module("billing")).close_period()
    await harness.settle()

    assert await post_task(harness, alice, apollo) == 201
    assert (await harness.get(f"{API}/billing/usage", user=alice)).json()["tasks_created"] == 1


async def test_a_plan_change_after_a_renewal_keeps_the_renewed_periods_count(harness, alice):  # type: ignore[no-untyped-def]
    # Billing's renewal moves the period on (one restart of the count); every later event
    # of that same period, here an upgrade and a downgrade, must leave the count alone.
    apollo = (await create_project(harness, alice))["id"]
    harness.clock.set(DEC_1)  # type: ignore[attr-defined]
    await provide_billing_service(harness.runtime.module("billing")).close_period()
    await harness.settle()
    for n in range(100):
        await create_task(harness, alice, apollo, title=f"Task {n}")

    await harness.put(f"{API}/billing/subscription", json={"plan": "pro"}, user=alice)
    await harness.put(f"{API}/billing/subscription", json={"plan": "free"}, user=alice)
    refused = await harness.post(f"{API}/projects/{apollo}/tasks", json={"title": "101"}, user=alice)

    assert refused.status_code == 403, refused.text
    assert (refused.json()["plan"], refused.json()["limit"]) == ("free", 100)
    assert refused.json()["period_end"] == "2027-01-01T00:00:00Z"  # the renewed period's end
    assert (await harness.get(f"{API}/billing/usage", user=alice)).json()["tasks_created"] == 100
