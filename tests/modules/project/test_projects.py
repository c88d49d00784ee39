"""Projects over HTTP: create, list, read, update with If-Match, delete."""

from __future__ import annotations

from tests.modules.project.factories import API, add_member, create_project, create_task


async def test_creating_a_project_answers_it_with_version_and_etag(harness, alice):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects", json={"name": "  Apollo ", "description": "Moon"}, user=alice
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Apollo"
    assert body["description"] == "Moon"
    assert body["owner_id"] == str(alice.id)
    assert body["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert {"id", "created_at"} <= body.keys()


async def test_project_list_holds_only_projects_the_caller_belongs_to(harness, alice, bob, carol):  # type: ignore[no-untyped-def]
    apollo = await create_project(harness, alice, "Apollo")
    await create_project(harness, alice, "Gemini")
    await create_project(harness, carol, "Mercury")
    await add_member(harness, alice, apollo, bob)

    response = await harness.get(f"{API}/projects", user=bob)

    assert [p["name"] for p in response.json()["items"]] == ["Apollo"]
    assert response.json()["items"][0]["role"] == "member"


async def test_project_list_pages_with_a_cursor(harness, alice):  # type: ignore[no-untyped-def]
    for name in ("A", "B", "C"):
        await create_project(harness, alice, name)

    first = (await harness.get(f"{API}/projects?limit=2", user=alice)).json()
    second = (await harness.get(f"{API}/projects?limit=2&cursor={first['next_cursor']}", user=alice)).json()

    assert [p["name"] for p in first["items"]] == ["A", "B"]
    assert [p["name"] for p in second["items"]] == ["C"]
    assert second["next_cursor"] is None


async def test_a_project_of_others_answers_404(harness, apollo, bob):  # type: ignore[no-untyped-def]
    response = await harness.get(f"{API}/projects/{apollo['id']}", user=bob)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_requests_without_a_token_answer_401(harness, apollo):  # type: ignore[no-untyped-def]
    response = await harness.get(f"{API}/projects/{apollo['id']}")

    assert response.status_code == 401


async def test_updating_with_the_current_version_bumps_it(harness, alice, apollo):  # type: ignore[no-untyped-def]
    response = await harness.patch(
        f"{API}/projects/{apollo['id']}", json={"name": "Artemis"}, headers={"If-Match": '"1"'}, user=alice
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Artemis"
    assert response.json()["description"] is None
    assert response.json()["version"] == 2
    assert response.headers["ETag"] == '"2"'


async def test_updating_with_a_stale_version_answers_412(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await harness.patch(f"{API}/projects/{apollo['id']}", json={"name": "Artemis"}, user=alice)

    published = len(harness.bus.published)

    response = await harness.patch(
        f"{API}/projects/{apollo['id']}", json={"name": "Orion"}, headers={"If-Match": '"1"'}, user=alice
    )

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    current = (await harness.get(f"{API}/projects/{apollo['id']}", user=alice)).json()
    assert (current["name"], current["version"]) == ("Artemis", 2)
    assert len(harness.bus.published) == published


async def test_description_can_be_cleared_with_null(harness, alice):  # type: ignore[no-untyped-def]
    project = (
        await harness.post(f"{API}/projects", json={"name": "A", "description": "x"}, user=alice)
    ).json()

    response = await harness.patch(f"{API}/projects/{project['id']}", json={"description": None}, user=alice)

    assert response.json()["description"] is None
    assert response.json()["name"] == "A"


async def test_deleting_a_project_removes_its_tasks_and_members(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    task = await create_task(harness, alice, apollo)

    response = await harness.delete(f"{API}/projects/{apollo['id']}", user=alice)

    assert response.status_code == 204
    assert (await harness.get(f"{API}/projects/{apollo['id']}", user=alice)).status_code == 404
    assert (await harness.get(f"{API}/tasks/{task['id']}", user=bob)).status_code == 404
    assert (await harness.get(f"{API}/projects", user=bob)).json()["items"] == []


async def test_deleting_with_a_stale_version_answers_412(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await harness.patch(f"{API}/projects/{apollo['id']}", json={"name": "Artemis"}, user=alice)

    task = await create_task(harness, alice, apollo)
    published = len(harness.bus.published)

    response = await harness.delete(f"{API}/projects/{apollo['id']}", headers={"If-Match": '"1"'}, user=alice)

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert (await harness.get(f"{API}/projects/{apollo['id']}", user=alice)).json()["name"] == "Artemis"
    assert (await harness.get(f"{API}/tasks/{task['id']}", user=alice)).status_code == 200
    assert len(harness.bus.published) == published  # no TaskDeleted, MemberRemoved, ProjectDeleted
