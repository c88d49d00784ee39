"""Events per the catalog: one per change, with its fields, none on rollback."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from modules.project.contracts import (
    MemberAdded,
    MemberRemoved,
    ProjectCreated,
    ProjectDeleted,
    TaskAssigned,
    TaskCreated,
    TaskDeleted,
    TaskStatusChanged,
    TaskUnassigned,
)
from modules.project.service import TaskDraft, provide_project_service, provide_task_service
from tests.modules.project.factories import API, add_member, create_project, create_task

ALL = (
    ProjectCreated,
    ProjectDeleted,
    MemberAdded,
    MemberRemoved,
    TaskCreated,
    TaskAssigned,
    TaskStatusChanged,
    TaskUnassigned,
    TaskDeleted,
)


def counts(harness) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {
        kind.__event_type__.split(".")[2]: len(harness.published(kind))
        for kind in ALL
        if harness.published(kind)
    }


async def test_creating_a_project_publishes_project_created_once(harness, alice):  # type: ignore[no-untyped-def]
    project = await create_project(harness, alice, "Apollo")

    assert harness.published(ProjectCreated) == [
        ProjectCreated(project_id=UUID(project["id"]), owner_id=alice.id, name="Apollo")
    ]
    assert counts(harness) == {"project_created": 1}


async def test_adding_and_removing_a_member_publish_their_events(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob, "admin")
    await harness.delete(f"{API}/projects/{apollo['id']}/members/{bob.id}", user=alice)

    pid = UUID(apollo["id"])
    assert harness.published(MemberAdded) == [MemberAdded(project_id=pid, user_id=bob.id, role="admin")]
    assert harness.published(MemberRemoved) == [MemberRemoved(project_id=pid, user_id=bob.id, role="admin")]


async def test_creating_a_task_publishes_task_created_with_its_fields(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(
        harness, alice, apollo, title="T", priority="high", due_date="2027-01-02", labels=["x"]
    )

    [event] = harness.published(TaskCreated)
    assert (event.task_id, event.project_id, event.creator_id) == (
        UUID(task["id"]),
        UUID(apollo["id"]),
        alice.id,
    )
    assert (event.title, event.priority, event.assignee_id, event.status) == ("T", "high", None, "todo")
    assert (event.due_date, event.labels) == (date(2027, 1, 2), ["x"])
    assert event.created_at == harness.clock.now()
    assert harness.published(TaskAssigned) == []


async def test_creating_an_assigned_task_publishes_task_assigned(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)

    task = await create_task(harness, alice, apollo, assignee_id=str(bob.id))

    assert harness.published(TaskAssigned) == [
        TaskAssigned(
            task_id=UUID(task["id"]), project_id=UUID(apollo["id"]), assignee_id=bob.id, assigned_by=alice.id
        )
    ]
    assert harness.published(TaskCreated)[0].assignee_id == bob.id


async def test_reassigning_publishes_task_assigned_once_per_change(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    task = await create_task(harness, alice, apollo)

    await harness.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": str(bob.id)}, user=bob)
    await harness.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": str(bob.id)}, user=bob)
    await harness.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": None}, user=bob)

    assert [(e.assignee_id, e.assigned_by) for e in harness.published(TaskAssigned)] == [(bob.id, bob.id)]


async def test_clearing_the_assignee_publishes_task_unassigned(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    task = await create_task(harness, alice, apollo, assignee_id=str(bob.id))

    await harness.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": None}, user=alice)
    await harness.patch(f"{API}/tasks/{task['id']}", json={"assignee_id": None}, user=alice)

    assert harness.published(TaskUnassigned) == [
        TaskUnassigned(
            task_id=UUID(task["id"]),
            project_id=UUID(apollo["id"]),
            previous_assignee_id=bob.id,
            unassigned_by=alice.id,
        )
    ]


async def test_removing_a_member_unassigns_their_tasks_with_events(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    mine = [await create_task(harness, alice, apollo, assignee_id=str(bob.id)) for _ in range(2)]
    await create_task(harness, alice, apollo)

    await harness.delete(f"{API}/projects/{apollo['id']}/members/{bob.id}", user=alice)

    unassigned = harness.published(TaskUnassigned)
    assert sorted(str(e.task_id) for e in unassigned) == sorted(t["id"] for t in mine)
    assert {(e.previous_assignee_id, e.unassigned_by) for e in unassigned} == {(bob.id, alice.id)}


async def test_changing_status_publishes_task_status_changed(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    task = await create_task(harness, bob, apollo)

    await harness.patch(f"{API}/tasks/{task['id']}", json={"status": "done"}, user=alice)
    await harness.patch(f"{API}/tasks/{task['id']}", json={"status": "done", "title": "Renamed"}, user=alice)

    assert harness.published(TaskStatusChanged) == [
        TaskStatusChanged(
            task_id=UUID(task["id"]),
            project_id=UUID(apollo["id"]),
            old="todo",
            new="done",
            changed_by=alice.id,
            creator_id=bob.id,
            owner_id=alice.id,
            changed_at=harness.clock.now(),
        )
    ]


async def test_deleting_a_task_publishes_task_deleted(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo, assignee_id=str(alice.id))

    await harness.delete(f"{API}/tasks/{task['id']}", user=alice)

    assert harness.published(TaskDeleted) == [
        TaskDeleted(
            task_id=UUID(task["id"]), project_id=UUID(apollo["id"]), assignee_id=alice.id, status="todo"
        )
    ]


async def test_deleting_a_project_publishes_its_tasks_and_members_first(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    tasks = [await create_task(harness, alice, apollo, title=t) for t in ("a", "b")]

    await harness.delete(f"{API}/projects/{apollo['id']}", user=alice)

    tail = [e.type.split(".")[2] for e in harness.bus.published if e.source == "project"][-5:]
    assert tail == ["task_deleted", "task_deleted", "member_removed", "member_removed", "project_deleted"]
    assert {e.task_id for e in harness.published(TaskDeleted)} == {UUID(t["id"]) for t in tasks}
    assert {(e.user_id, e.role) for e in harness.published(MemberRemoved)} == {
        (alice.id, "owner"),
        (bob.id, "member"),
    }
    assert harness.published(ProjectDeleted) == [
        ProjectDeleted(project_id=UUID(apollo["id"]), owner_id=alice.id, name="Apollo")
    ]


async def test_a_rolled_back_project_creation_publishes_nothing(harness, alice):  # type: ignore[no-untyped-def]
    module = harness.runtime.module("project")

    with pytest.raises(RuntimeError):
        async with module.uow.transaction():
            await provide_project_service(module).create_project(alice.id, "Doomed", None)
            raise RuntimeError("abort")
    await harness.settle()

    assert counts(harness) == {}
    assert (await harness.get(f"{API}/projects", user=alice)).json()["items"] == []


async def test_a_rolled_back_task_creation_publishes_nothing(harness, alice, apollo):  # type: ignore[no-untyped-def]
    module = harness.runtime.module("project")
    draft = TaskDraft(title="Doomed", assignee_id=alice.id)

    with pytest.raises(RuntimeError):
        async with module.uow.transaction():
            await provide_task_service(module).create_task(alice.id, UUID(apollo["id"]), draft)
            raise RuntimeError("abort")
    await harness.settle()

    assert counts(harness) == {"project_created": 1}
    assert (await harness.get(f"{API}/projects/{apollo['id']}/tasks", user=alice)).json()["items"] == []


async def test_refused_requests_publish_nothing(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await harness.post(
        f"{API}/projects/{apollo['id']}/tasks", json={"title": "x", "assignee_id": str(bob.id)}, user=alice
    )
    await harness.post(
        f"{API}/projects/{apollo['id']}/members", json={"email": "nobody@example.com"}, user=alice
    )
    await harness.delete(f"{API}/projects/{apollo['id']}", user=bob)

    assert counts(harness) == {"project_created": 1}
