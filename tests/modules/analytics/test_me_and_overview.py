"""`/api/v1/analytics/me` and the admin-only `/api/v1/analytics/overview`."""

from __future__ import annotations

from datetime import timedelta

from modules.auth.contracts import UserRegistered
from modules.project.contracts import MemberAdded, ProjectDeleted, TaskAssigned, TaskDeleted, TaskUnassigned
from tests.modules.analytics.factories import create_project, create_task, move


async def test_me_counts_my_completions_in_the_last_seven_days(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    old, recent = await create_task(harness, project, alice.id), await create_task(harness, project, alice.id)
    await move(harness, old, project, "todo", "done", alice.id)
    harness.clock.advance(timedelta(days=8))
    await move(harness, recent, project, "todo", "done", alice.id)

    me = (await harness.get("/api/v1/analytics/me", user=alice)).json()

    assert me["tasks_completed_7d"] == 1


async def test_me_counts_open_tasks_assigned_to_me_and_my_projects(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    mine = await create_project(harness, alice.id)
    theirs = await create_project(harness, bob.id)
    await harness.publish(MemberAdded(project_id=theirs, user_id=alice.id, role="member"))
    await create_task(harness, mine, alice.id, assignee=alice.id)
    done = await create_task(harness, mine, alice.id, assignee=alice.id)
    await move(harness, done, mine, "todo", "done", alice.id)
    reassigned = await create_task(harness, theirs, bob.id, assignee=bob.id)
    await harness.publish(
        TaskAssigned(task_id=reassigned, project_id=theirs, assignee_id=alice.id, assigned_by=bob.id)
    )

    me = (await harness.get("/api/v1/analytics/me", user=alice)).json()

    assert me == {"tasks_completed_7d": 1, "tasks_assigned_open": 2, "projects": 2}


async def test_an_unassigned_task_is_no_longer_open_for_me(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    task = await create_task(harness, project, alice.id, assignee=alice.id)

    await harness.publish(
        TaskUnassigned(
            task_id=task, project_id=project, previous_assignee_id=alice.id, unassigned_by=alice.id
        )
    )

    assert (await harness.get("/api/v1/analytics/me", user=alice)).json()["tasks_assigned_open"] == 0


async def test_overview_totals_for_an_admin(harness):  # type: ignore[no-untyped-def]
    admin = harness.user("root@example.com", roles=["admin"])
    await harness.publish(UserRegistered(user_id=admin.id, email=admin.email, display_name="Root"))
    kept = await create_project(harness, admin.id)
    gone = await create_project(harness, admin.id)
    await create_task(harness, kept, admin.id)
    deleted = await create_task(harness, gone, admin.id)
    await harness.publish(TaskDeleted(task_id=deleted, project_id=gone))
    await harness.publish(ProjectDeleted(project_id=gone, owner_id=admin.id, name="gone"))
    harness.clock.advance(timedelta(minutes=61))
    await create_task(harness, kept, admin.id)

    overview = (await harness.get("/api/v1/analytics/overview", user=admin)).json()

    assert overview == {"users": 1, "projects": 1, "tasks": 2, "events_last_hour": 1}


async def test_overview_is_forbidden_to_non_admins(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")

    response = await harness.get("/api/v1/analytics/overview", user=alice)

    assert response.status_code == 403
