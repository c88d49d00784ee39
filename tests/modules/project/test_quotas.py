"""Plan quotas from the local read model of `billing.subscription_changed`."""

from __future__ import annotations

from datetime import timedelta

from tests.modules.project.factories import API, add_member, create_project, registered, subscribe


async def test_a_free_user_hits_the_project_limit_with_a_clear_403(harness, alice):  # type: ignore[no-untyped-def]
    for name in ("A", "B", "C"):
        await create_project(harness, alice, name)

    response = await harness.post(f"{API}/projects", json={"name": "D"}, user=alice)

    assert response.status_code == 403
    problem = response.json()
    assert problem["type"].endswith("/quota-exceeded")
    assert "project limit" in problem["detail"]
    assert "free plan allows 3 projects" in problem["detail"]


async def test_an_upgrade_lifts_the_project_limit(harness, alice):  # type: ignore[no-untyped-def]
    for name in ("A", "B", "C"):
        await create_project(harness, alice, name)
    assert (await harness.post(f"{API}/projects", json={"name": "D"}, user=alice)).status_code == 403

    await subscribe(harness, alice, "pro", projects=10)
    response = await harness.post(f"{API}/projects", json={"name": "D"}, user=alice)

    assert response.status_code == 201


async def test_a_negative_limit_means_unlimited(harness, alice):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "team", projects=-1)

    for name in ("A", "B", "C", "D", "E"):
        await create_project(harness, alice, name)

    assert len((await harness.get(f"{API}/projects", user=alice)).json()["items"]) == 5


async def test_a_downgrade_applies_to_new_projects_only(harness, alice):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "pro", projects=10)
    for name in ("A", "B", "C", "D"):
        await create_project(harness, alice, name)

    harness.clock.advance(timedelta(minutes=1))
    await subscribe(harness, alice, "free", projects=3)

    assert (await harness.post(f"{API}/projects", json={"name": "E"}, user=alice)).status_code == 403
    assert len((await harness.get(f"{API}/projects", user=alice)).json()["items"]) == 4


async def test_an_older_subscription_event_does_not_undo_a_newer_one(harness, alice):  # type: ignore[no-untyped-def]
    harness.clock.advance(timedelta(minutes=5))
    await subscribe(harness, alice, "pro", projects=10)

    harness.clock.advance(timedelta(minutes=-10))
    await subscribe(harness, alice, "free", projects=3)
    for name in ("A", "B", "C", "D"):
        await create_project(harness, alice, name)

    assert len((await harness.get(f"{API}/projects", user=alice)).json()["items"]) == 4


async def test_the_owners_plan_limits_members_per_project(harness, alice, apollo):  # type: ignore[no-untyped-def]
    for i in range(4):  # the owner counts: 1 + 4 = the free plan's 5
        await add_member(harness, alice, apollo, await registered(harness, f"m{i}@example.com"))
    extra = await registered(harness, "extra@example.com")

    response = await harness.post(
        f"{API}/projects/{apollo['id']}/members", json={"email": extra.email}, user=alice
    )

    assert response.status_code == 403
    assert response.json()["type"].endswith("/quota-exceeded")
    assert "allows 5 members per project" in response.json()["detail"]


async def test_an_upgrade_lifts_the_member_limit(harness, alice, apollo):  # type: ignore[no-untyped-def]
    for i in range(4):
        await add_member(harness, alice, apollo, await registered(harness, f"m{i}@example.com"))
    extra = await registered(harness, "extra@example.com")

    await subscribe(harness, alice, "team", projects=50, members=50)
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/members", json={"email": extra.email}, user=alice
    )

    assert response.status_code == 201


async def test_deleting_a_project_frees_a_slot(harness, alice):  # type: ignore[no-untyped-def]
    projects = [await create_project(harness, alice, name) for name in ("A", "B", "C")]

    await harness.delete(f"{API}/projects/{projects[0]['id']}", user=alice)

    assert (await harness.post(f"{API}/projects", json={"name": "D"}, user=alice)).status_code == 201
