"""Members over HTTP: added by email from the module's own user directory."""

from __future__ import annotations

from modules.auth.contracts import UserRegistered
from tests.modules.project.factories import API, add_member, create_task


async def test_adding_a_registered_email_answers_the_member(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/members",
        json={"email": "Bob@Example.com", "role": "admin"},
        user=alice,
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["user_id"], body["email"], body["display_name"], body["role"]) == (
        str(bob.id),
        "bob@example.com",
        "Bob",
        "admin",
    )


async def test_adding_an_unregistered_email_answers_404(harness, alice, apollo):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/members", json={"email": "nobody@example.com"}, user=alice
    )

    assert response.status_code == 404
    assert "nobody@example.com" in response.json()["detail"]


async def test_adding_an_existing_member_answers_409(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)

    response = await harness.post(
        f"{API}/projects/{apollo['id']}/members", json={"email": bob.email, "role": "admin"}, user=alice
    )

    assert response.status_code == 409


async def test_the_owner_cannot_be_added_again(harness, alice, apollo):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/members", json={"email": alice.email}, user=alice
    )

    assert response.status_code == 409


async def test_members_are_listed_owner_first(harness, alice, bob, carol, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    await add_member(harness, alice, apollo, carol, "admin")

    response = await harness.get(f"{API}/projects/{apollo['id']}/members", user=bob)

    assert [(m["email"], m["role"]) for m in response.json()["items"]] == [
        ("alice@example.com", "owner"),
        ("bob@example.com", "member"),
        ("carol@example.com", "admin"),
    ]


async def test_a_removed_member_loses_access(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)

    response = await harness.delete(f"{API}/projects/{apollo['id']}/members/{bob.id}", user=alice)

    assert response.status_code == 204
    assert (await harness.get(f"{API}/projects/{apollo['id']}", user=bob)).status_code == 404


async def test_a_member_may_leave_a_project(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)

    response = await harness.delete(f"{API}/projects/{apollo['id']}/members/{bob.id}", user=bob)

    assert response.status_code == 204


async def test_the_owner_cannot_be_removed(harness, alice, carol, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, carol, "admin")

    response = await harness.delete(f"{API}/projects/{apollo['id']}/members/{alice.id}", user=carol)

    assert response.status_code == 403


async def test_removing_a_non_member_answers_404(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    response = await harness.delete(f"{API}/projects/{apollo['id']}/members/{bob.id}", user=alice)

    assert response.status_code == 404


async def test_removing_a_member_unassigns_their_tasks(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    task = await create_task(harness, alice, apollo, assignee_id=str(bob.id))

    await harness.delete(f"{API}/projects/{apollo['id']}/members/{bob.id}", user=alice)

    after = (await harness.get(f"{API}/tasks/{task['id']}", user=alice)).json()
    assert after["assignee_id"] is None
    assert after["version"] == task["version"] + 1


async def test_a_repeated_registration_event_keeps_one_directory_entry(harness, alice, apollo):  # type: ignore[no-untyped-def]
    dave = harness.user("dave@example.com")
    envelope = await harness.publish(UserRegistered(user_id=dave.id, email=dave.email, display_name="Dave"))

    await harness.deliver(envelope)
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/members", json={"email": dave.email}, user=alice
    )

    assert response.status_code == 201
    assert response.json()["display_name"] == "Dave"
