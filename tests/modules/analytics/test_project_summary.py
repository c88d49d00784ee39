"""`GET /api/v1/analytics/projects/{id}/summary`, fed by project events."""

from __future__ import annotations

from datetime import timedelta

from modules.project.contracts import MemberAdded, MemberRemoved, TaskAssigned, TaskCreated, TaskDeleted
from tests.modules.analytics.factories import create_project, create_task, move, new_id


async def test_summary_counts_tasks_by_status(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    tasks = [await create_task(harness, project, alice.id) for _ in range(4)]
    await move(harness, tasks[0], project, "todo", "in_progress", alice.id)
    await move(harness, tasks[1], project, "todo", "done", alice.id)

    summary = (await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=alice)).json()

    assert summary["tasks_by_status"] == {"todo": 2, "in_progress": 1, "done": 1}


async def test_summary_series_cover_thirty_days_with_zero_days(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    first = await create_task(harness, project, alice.id)
    harness.clock.advance(timedelta(days=2))
    await create_task(harness, project, alice.id)
    await move(harness, first, project, "todo", "done", alice.id)

    summary = (await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=alice)).json()

    today = harness.clock.now().date()
    created = {d["date"]: d["count"] for d in summary["created_per_day"]}
    assert len(summary["created_per_day"]) == len(summary["completed_per_day"]) == 30
    assert summary["created_per_day"][-1]["date"] == today.isoformat()
    assert created[today.isoformat()] == 1
    assert created[(today - timedelta(days=2)).isoformat()] == 1
    assert sum(created.values()) == 2
    assert [d["count"] for d in summary["completed_per_day"]][-1] == 1


async def test_lead_time_averages_creation_to_done_over_done_tasks(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    quick = await create_task(harness, project, alice.id)
    slow = await create_task(harness, project, alice.id)
    harness.clock.advance(timedelta(hours=1))
    await move(harness, quick, project, "todo", "done", alice.id)
    harness.clock.advance(timedelta(hours=2))
    await move(harness, slow, project, "todo", "done", alice.id)

    summary = (await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=alice)).json()

    assert summary["avg_lead_time_seconds"] == (3600 + 3 * 3600) / 2


async def test_lead_time_is_null_without_done_tasks(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    await create_task(harness, project, alice.id)

    summary = (await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=alice)).json()

    assert summary["avg_lead_time_seconds"] is None


async def test_overdue_counts_open_tasks_due_before_today(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    today = harness.clock.now().date()
    await create_task(harness, project, alice.id, due=today - timedelta(days=1))
    done_late = await create_task(harness, project, alice.id, due=today - timedelta(days=1))
    await create_task(harness, project, alice.id, due=today)
    await create_task(harness, project, alice.id)
    await move(harness, done_late, project, "todo", "done", alice.id)

    summary = (await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=alice)).json()

    assert summary["overdue"] == 1


async def test_deleted_tasks_leave_status_counts_but_stay_in_history(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)
    task = await create_task(harness, project, alice.id)
    await move(harness, task, project, "todo", "done", alice.id)

    await harness.publish(TaskDeleted(task_id=task, project_id=project, status="done"))

    summary = (await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=alice)).json()
    assert summary["tasks_by_status"] == {"todo": 0, "in_progress": 0, "done": 0}
    assert sum(d["count"] for d in summary["created_per_day"]) == 1
    assert sum(d["count"] for d in summary["completed_per_day"]) == 1


async def test_an_added_member_sees_the_summary(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    project = await create_project(harness, alice.id)

    await harness.publish(MemberAdded(project_id=project, user_id=bob.id, role="member"))

    response = await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=bob)
    assert response.status_code == 200


async def test_a_non_member_gets_404(harness):  # type: ignore[no-untyped-def]
    alice, mallory = harness.user("alice@example.com"), harness.user("mallory@example.com")
    project = await create_project(harness, alice.id)

    response = await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=mallory)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_removed_member_gets_404(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    project = await create_project(harness, alice.id)
    await harness.publish(MemberAdded(project_id=project, user_id=bob.id, role="member"))

    await harness.publish(MemberRemoved(project_id=project, user_id=bob.id, role="member"))

    response = await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=bob)
    assert response.status_code == 404


async def test_summary_needs_a_token(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await create_project(harness, alice.id)

    response = await harness.get(f"/api/v1/analytics/projects/{project}/summary")

    assert response.status_code == 401


async def test_a_task_done_and_assigned_before_its_creation_arrived_counts_from_the_creation(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    project = await create_project(harness, alice.id)
    created_at = harness.clock.now()
    task = new_id()
    harness.clock.set(created_at + timedelta(hours=2))
    await harness.publish(
        TaskAssigned(task_id=task, project_id=project, assignee_id=bob.id, assigned_by=alice.id)
    )
    await move(harness, task, project, "todo", "done", bob.id)
    harness.clock.set(created_at)
    await harness.publish(
        TaskCreated(
            task_id=task, project_id=project, creator_id=alice.id, title="t", priority="low", assignee_id=None
        )
    )
    harness.clock.set(created_at + timedelta(hours=3))

    summary = (await harness.get(f"/api/v1/analytics/projects/{project}/summary", user=alice)).json()
    me = (await harness.get("/api/v1/analytics/me", user=bob)).json()

    assert summary["tasks_by_status"] == {"todo": 0, "in_progress": 0, "done": 1}
    assert summary["avg_lead_time_seconds"] == 2 * 3600
    assert me["tasks_assigned_open"] == 0
    assert me["tasks_completed_7d"] == 1
