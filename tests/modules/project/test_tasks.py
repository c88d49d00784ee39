"""Tasks over HTTP: create, read, change with If-Match, delete."""

from __future__ import annotations

from datetime import timedelta

from tests.modules.project.factories import API, add_member, create_task


async def test_creating_a_task_answers_it_with_defaults(harness, alice, apollo):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/tasks", json={"title": " Launch "}, user=alice
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["title"], body["status"], body["priority"], body["labels"]) == (
        "Launch",
        "todo",
        "medium",
        [],
    )
    assert (body["assignee_id"], body["due_date"], body["description"]) == (None, None, None)
    assert (body["project_id"], body["version"]) == (apollo["id"], 1)
    assert response.headers["ETag"] == '"1"'


async def test_creating_a_task_keeps_every_field(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)

    task = await create_task(
        harness,
        alice,
        apollo,
        description="d",
        priority="urgent",
        due_date="2026-12-24",
        assignee_id=str(bob.id),
        labels=["ops", "q4", "ops"],
    )

    fetched = (await harness.get(f"{API}/tasks/{task['id']}", user=bob)).json()
    assert fetched == task
    assert (task["priority"], task["due_date"], task["assignee_id"]) == ("urgent", "2026-12-24", str(bob.id))
    assert task["labels"] == ["ops", "q4"]


async def test_an_assignee_outside_the_project_answers_422(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/tasks", json={"title": "x", "assignee_id": str(bob.id)}, user=alice
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "assignee_id"


async def test_changing_a_task_bumps_its_version(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo)

    response = await harness.patch(
        f"{API}/tasks/{task['id']}",
        json={"status": "in_progress", "priority": "high", "due_date": "2027-01-01", "labels": ["a"]},
        headers={"If-Match": '"1"'},
        user=alice,
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["status"], body["priority"], body["due_date"], body["labels"]) == (
        "in_progress",
        "high",
        "2027-01-01",
        ["a"],
    )
    assert (body["version"], response.headers["ETag"]) == (2, '"2"')


async def test_a_change_of_every_field_at_a_later_moment_is_one_version(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    task = await create_task(harness, alice, apollo)
    harness.clock.advance(timedelta(minutes=1))

    response = await harness.patch(
        f"{API}/tasks/{task['id']}",
        json={
            "title": "Renamed",
            "assignee_id": str(bob.id),
            "status": "done",
            "priority": "low",
            "labels": ["b", "a"],
        },
        headers={"If-Match": '"1"'},
        user=alice,
    )
    fetched = await harness.get(f"{API}/tasks/{task['id']}", user=alice)

    assert response.status_code == 200, response.text
    assert (response.json()["version"], response.headers["ETag"]) == (2, '"2"')
    assert (fetched.json()["version"], fetched.json()["labels"]) == (2, ["b", "a"])
    assert fetched.json()["updated_at"] > task["updated_at"]


async def test_changing_a_task_with_a_stale_version_answers_412(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo)
    await harness.patch(f"{API}/tasks/{task['id']}", json={"title": "First"}, user=alice)

    published = len(harness.bus.published)

    response = await harness.patch(
        f"{API}/tasks/{task['id']}",
        json={"title": "Second", "status": "done"},
        headers={"If-Match": '"1"'},
        user=alice,
    )

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    current = (await harness.get(f"{API}/tasks/{task['id']}", user=alice)).json()
    assert (current["title"], current["status"], current["version"]) == ("First", "todo", 2)
    assert len(harness.bus.published) == published  # no TaskStatusChanged


async def test_an_empty_change_keeps_the_version(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo, labels=["a"])

    response = await harness.patch(f"{API}/tasks/{task['id']}", json={"labels": ["a"]}, user=alice)

    assert response.json()["version"] == 1


async def test_null_clears_assignee_and_due_date(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo, assignee_id=str(alice.id), due_date="2027-01-01")

    response = await harness.patch(
        f"{API}/tasks/{task['id']}", json={"assignee_id": None, "due_date": None}, user=alice
    )

    assert (response.json()["assignee_id"], response.json()["due_date"]) == (None, None)


async def test_reassigning_to_a_non_member_answers_422(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo)

    response = await harness.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": str(bob.id)}, user=alice)

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "assignee_id", "message": "the assignee must be a member of the project"}
    ]


async def test_a_deleted_task_is_gone(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo, labels=["x"])

    response = await harness.delete(f"{API}/tasks/{task['id']}", user=alice)

    assert response.status_code == 204
    assert (await harness.get(f"{API}/tasks/{task['id']}", user=alice)).status_code == 404
    assert (await harness.delete(f"{API}/tasks/{task['id']}", user=alice)).status_code == 404


async def test_deleting_a_task_with_a_stale_version_answers_412(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo)
    await harness.patch(f"{API}/tasks/{task['id']}", json={"title": "First"}, user=alice)

    published = len(harness.bus.published)

    response = await harness.delete(f"{API}/tasks/{task['id']}", headers={"If-Match": '"1"'}, user=alice)

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert (await harness.get(f"{API}/tasks/{task['id']}", user=alice)).json()["title"] == "First"
    assert len(harness.bus.published) == published  # no TaskDeleted
