"""Usage metered from project events, exactly once per event."""

from __future__ import annotations

from datetime import timedelta

from cloudtaskhub.clock import new_id
from modules.project.contracts import MemberAdded, MemberRemoved, ProjectCreated, ProjectDeleted, TaskCreated
from tests.modules.billing.conftest import NOV_17


def _task(project_id, creator_id, created_at=NOV_17):  # type: ignore[no-untyped-def]
    return TaskCreated(
        task_id=new_id(),
        project_id=project_id,
        creator_id=creator_id,
        title="t",
        priority="low",
        assignee_id=None,
        created_at=created_at,
    )


async def test_usage_counts_owned_projects_tasks_and_members(harness, alice):  # type: ignore[no-untyped-def]
    apollo, gemini = new_id(), new_id()
    await harness.publish(ProjectCreated(project_id=apollo, owner_id=alice.id, name="Apollo"))
    await harness.publish(ProjectCreated(project_id=gemini, owner_id=alice.id, name="Gemini"))
    for _ in range(3):
        await harness.publish(_task(apollo, alice.id))
    await harness.publish(MemberAdded(project_id=apollo, user_id=new_id(), role="member"))
    await harness.publish(MemberAdded(project_id=apollo, user_id=new_id(), role="admin"))
    await harness.publish(MemberAdded(project_id=gemini, user_id=new_id(), role="member"))

    body = (await harness.get("/api/v1/billing/usage", user=alice)).json()

    assert (body["projects"], body["tasks_created"], body["members"]) == (2, 3, 2)
    assert body["limits"] == {"projects": 3, "members_per_project": 5, "tasks_per_month": 100}


async def test_redelivered_events_are_metered_once(harness, alice):  # type: ignore[no-untyped-def]
    apollo = new_id()
    created = await harness.publish(ProjectCreated(project_id=apollo, owner_id=alice.id, name="Apollo"))
    task = await harness.publish(_task(apollo, alice.id))

    await harness.deliver(created)
    await harness.deliver(task)

    body = (await harness.get("/api/v1/billing/usage", user=alice)).json()
    assert (body["projects"], body["tasks_created"]) == (1, 1)


async def test_tasks_created_outside_the_period_and_deleted_projects_do_not_count(harness, alice):  # type: ignore[no-untyped-def]
    apollo, gemini = new_id(), new_id()
    await harness.publish(ProjectCreated(project_id=apollo, owner_id=alice.id, name="Apollo"))
    await harness.publish(_task(apollo, alice.id, created_at=NOV_17 - timedelta(days=30)))
    await harness.publish(ProjectCreated(project_id=gemini, owner_id=alice.id, name="Gemini"))
    member = new_id()
    await harness.publish(MemberAdded(project_id=gemini, user_id=member, role="member"))
    await harness.publish(MemberRemoved(project_id=gemini, user_id=member, role="member"))
    await harness.publish(ProjectDeleted(project_id=gemini, owner_id=alice.id, name="Gemini"))

    body = (await harness.get("/api/v1/billing/usage", user=alice)).json()

    assert (body["projects"], body["tasks_created"], body["members"]) == (1, 0, 0)


async def test_a_task_metered_before_its_project_is_known_still_counts(harness, alice):  # type: ignore[no-untyped-def]
    apollo = new_id()
    await harness.publish(_task(apollo, alice.id))

    await harness.publish(ProjectCreated(project_id=apollo, owner_id=alice.id, name="Apollo"))

    assert (await harness.get("/api/v1/billing/usage", user=alice)).json()["tasks_created"] == 1
