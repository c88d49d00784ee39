"""The plan's tasks-per-month limit, counted by the project module from its own read model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from modules.project.contracts import TaskCreated
from tests.modules.project.factories import (
    API,
    PERIOD_END,
    add_member,
    create_task,
    subscribe,
)


async def task_count(harness, user, project) -> int:  # type: ignore[no-untyped-def]
    page = (await harness.get(f"{API}/projects/{project['id']}/tasks?limit=100", user=user)).json()
    assert page["next_cursor"] is None
    return len(page["items"])


async def post_task(harness, user, project, **fields):  # type: ignore[no-untyped-def]
    return await harness.post(
        f"{API}/projects/{project['id']}/tasks", json={"title": "One more", **fields}, user=user
    )


async def test_the_101st_task_on_the_free_plan_answers_403_and_writes_nothing(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=100)
    for n in range(100):
        await create_task(harness, alice, apollo, title=f"Task {n}")

    refused = await post_task(harness, alice, apollo)

    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["type"].endswith("/quota-exceeded")
    assert (problem["limit"], problem["plan"], problem["period_end"]) == (100, "free", "2027-01-01T00:00:00Z")
    assert "free plan allows 100 new tasks" in problem["detail"]
    assert "2027-01-01T00:00:00Z" in problem["detail"]
    assert await task_count(harness, alice, apollo) == 100
    assert len(harness.published(TaskCreated)) == 100


async def test_tasks_members_create_count_against_the_owners_plan(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=2)
    await add_member(harness, alice, apollo, bob)
    await create_task(harness, alice, apollo)
    await create_task(harness, bob, apollo)

    refused = await post_task(harness, bob, apollo)

    assert refused.status_code == 403
    assert refused.json()["limit"] == 2


async def test_deleting_a_task_does_not_give_its_quota_back(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=2)
    first = await create_task(harness, alice, apollo)
    await create_task(harness, alice, apollo)

    assert (await harness.delete(f"{API}/tasks/{first['id']}", user=alice)).status_code == 204
    refused = await post_task(harness, alice, apollo)

    assert refused.status_code == 403
    assert await task_count(harness, alice, apollo) == 1


async def test_a_refused_create_does_not_count(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=1)

    invalid = await post_task(harness, alice, apollo, assignee_id=str(bob.id))  # bob is no member
    created = await post_task(harness, alice, apollo)

    assert invalid.status_code == 422
    assert created.status_code == 201


async def test_an_upgrade_lifts_the_task_limit_and_keeps_the_count(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=2)
    for _ in range(2):
        await create_task(harness, alice, apollo)
    assert (await post_task(harness, alice, apollo)).status_code == 403

    harness.clock.advance(timedelta(minutes=1))
    await subscribe(harness, alice, "pro", projects=20, tasks=3)

    assert (await post_task(harness, alice, apollo)).status_code == 201
    assert (await post_task(harness, alice, apollo)).status_code == 403


async def test_a_later_billing_period_restarts_the_count(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=2)
    for _ in range(2):
        await create_task(harness, alice, apollo)
    harness.clock.advance(timedelta(days=40))  # this module's clock alone does not end the period
    await subscribe(harness, alice, "free", projects=3, tasks=2)  # the same period, heard again
    assert (await post_task(harness, alice, apollo)).status_code == 403

    await subscribe(harness, alice, "free", projects=3, tasks=2, period_end=datetime(2027, 2, 1, tzinfo=UTC))

    assert [(await post_task(harness, alice, apollo)).status_code for _ in range(3)] == [201, 201, 403]


async def test_an_older_period_does_not_restart_the_count(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=1)
    await create_task(harness, alice, apollo)

    await subscribe(harness, alice, "free", projects=3, tasks=1, period_end=PERIOD_END - timedelta(days=31))

    assert (await post_task(harness, alice, apollo)).status_code == 403


async def test_tasks_created_before_billings_first_event_count_in_its_period(harness, alice, apollo):  # type: ignore[no-untyped-def]
    # The owner created tasks before billing's first word about them arrived (a slow
    # consumer): that event names the period those tasks belong to, it does not start one.
    for _ in range(2):
        await create_task(harness, alice, apollo)

    await subscribe(harness, alice, "free", projects=3, tasks=3)

    assert [(await post_task(harness, alice, apollo)).status_code for _ in range(2)] == [201, 403]


async def test_creates_racing_for_the_last_slot_let_exactly_one_through(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "free", projects=3, tasks=3)
    for _ in range(2):
        await create_task(harness, alice, apollo)

    racing = await asyncio.gather(*(post_task(harness, alice, apollo) for _ in range(4)))

    assert sorted(r.status_code for r in racing) == [201, 403, 403, 403]
    assert await task_count(harness, alice, apollo) == 3
