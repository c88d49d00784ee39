"""`GET /api/v1/dashboard`: the caller's view, from the gateway's own read model fed by events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness
from cloudtaskhub.testing import TestUser as Caller
from modules.auth.contracts import UserRegistered
from modules.billing.contracts import PlanLimits, SubscriptionChanged
from modules.gateway import module as gateway
from modules.notification.contracts import NotificationCreated, NotificationRead
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

LIMITS = PlanLimits(projects=50, members_per_project=50, tasks_per_month=10_000)


@pytest.fixture
async def harness(database_url: str, tmp_path: Any) -> AsyncIterator[ModuleHarness]:
    async with ModuleHarness([gateway], database_url=database_url, data_dir=str(tmp_path)) as h:
        yield h


async def _dashboard(harness: ModuleHarness, user: Caller) -> dict[str, Any]:
    response = await harness.get("/api/v1/dashboard", user=user)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def _project(harness: ModuleHarness, owner: UUID, name: str) -> UUID:
    project_id = new_id()
    await harness.publish(ProjectCreated(project_id=project_id, owner_id=owner, name=name))
    return project_id


async def _task(harness: ModuleHarness, project: UUID, creator: UUID, assignee: UUID | None) -> UUID:
    task_id = new_id()
    await harness.publish(
        TaskCreated(
            task_id=task_id,
            project_id=project,
            creator_id=creator,
            title="t",
            priority="low",
            assignee_id=assignee,
        )
    )
    return task_id


async def test_a_new_user_sees_an_empty_dashboard_on_the_free_plan(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    await harness.publish(UserRegistered(user_id=alice.id, email=alice.email, display_name="Alice"))

    assert await _dashboard(harness, alice) == {
        "projects": [],
        "open_tasks_assigned": 0,
        "unread_notifications": 0,
        "plan": "free",
    }


async def test_dashboard_lists_owned_and_joined_projects_by_name(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    zeta = await _project(harness, alice.id, "Zeta")
    apollo = await _project(harness, bob.id, "Apollo")
    await _project(harness, bob.id, "Not mine")
    await harness.publish(MemberAdded(project_id=apollo, user_id=alice.id, role="member"))

    projects = (await _dashboard(harness, alice))["projects"]

    assert projects == [{"id": str(apollo), "name": "Apollo"}, {"id": str(zeta), "name": "Zeta"}]


async def test_leaving_or_deleting_a_project_removes_it(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    left = await _project(harness, bob.id, "Left")
    gone = await _project(harness, alice.id, "Gone")
    await harness.publish(MemberAdded(project_id=left, user_id=alice.id, role="member"))

    await harness.publish(MemberRemoved(project_id=left, user_id=alice.id, role="member"))
    await harness.publish(ProjectDeleted(project_id=gone, owner_id=alice.id, name="Gone"))

    assert (await _dashboard(harness, alice))["projects"] == []


async def test_open_tasks_count_what_is_assigned_to_me_and_not_done(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    project = await _project(harness, alice.id, "Apollo")
    await _task(harness, project, alice.id, alice.id)
    done = await _task(harness, project, alice.id, alice.id)
    moved_away = await _task(harness, project, alice.id, alice.id)
    moved_to_me = await _task(harness, project, bob.id, bob.id)
    deleted = await _task(harness, project, alice.id, alice.id)
    await _task(harness, project, alice.id, None)

    await harness.publish(
        TaskStatusChanged(task_id=done, project_id=project, old="todo", new="done", changed_by=alice.id)
    )
    await harness.publish(
        TaskAssigned(task_id=moved_away, project_id=project, assignee_id=bob.id, assigned_by=alice.id)
    )
    await harness.publish(
        TaskAssigned(task_id=moved_to_me, project_id=project, assignee_id=alice.id, assigned_by=bob.id)
    )
    await harness.publish(TaskDeleted(task_id=deleted, project_id=project))

    assert (await _dashboard(harness, alice))["open_tasks_assigned"] == 2


async def test_an_unassigned_task_leaves_my_open_tasks(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = await _project(harness, alice.id, "Apollo")
    task = await _task(harness, project, alice.id, alice.id)

    await harness.publish(
        TaskUnassigned(
            task_id=task, project_id=project, previous_assignee_id=alice.id, unassigned_by=alice.id
        )
    )

    assert (await _dashboard(harness, alice))["open_tasks_assigned"] == 0


async def test_a_deleted_task_stays_gone_whatever_comes_after(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project, task = new_id(), new_id()

    await harness.publish(TaskDeleted(task_id=task, project_id=project))
    await harness.publish(
        TaskStatusChanged(task_id=task, project_id=project, old="done", new="todo", changed_by=alice.id)
    )
    await harness.publish(
        TaskCreated(
            task_id=task,
            project_id=project,
            creator_id=alice.id,
            title="t",
            priority="low",
            assignee_id=alice.id,
        )
    )

    assert (await _dashboard(harness, alice))["open_tasks_assigned"] == 0


async def test_unread_notifications_go_down_when_read(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    ids = [new_id() for _ in range(3)]
    for notification in ids:
        await harness.publish(NotificationCreated(notification_id=notification, user_id=alice.id))
    await harness.publish(NotificationCreated(notification_id=new_id(), user_id=bob.id))

    await harness.publish(NotificationRead(notification_id=ids[0], user_id=alice.id))

    assert (await _dashboard(harness, alice))["unread_notifications"] == 2


async def test_a_read_arriving_before_its_creation_is_not_counted(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    notification = new_id()

    await harness.publish(NotificationRead(notification_id=notification, user_id=alice.id))
    await harness.publish(NotificationCreated(notification_id=notification, user_id=alice.id))

    assert (await _dashboard(harness, alice))["unread_notifications"] == 0


async def test_plan_follows_subscription_changes(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    period_end = datetime(2030, 1, 1, tzinfo=UTC)
    await harness.publish(UserRegistered(user_id=alice.id, email=alice.email, display_name="Alice"))
    await harness.publish(
        SubscriptionChanged(user_id=alice.id, plan="free", limits=LIMITS, period_end=period_end)
    )
    harness.clock.advance(timedelta(minutes=1))

    await harness.publish(
        SubscriptionChanged(user_id=alice.id, plan="pro", limits=LIMITS, period_end=period_end)
    )

    assert (await _dashboard(harness, alice))["plan"] == "pro"


async def test_an_older_subscription_change_never_wins(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    period_end = datetime(2030, 1, 1, tzinfo=UTC)
    await harness.publish(
        SubscriptionChanged(user_id=alice.id, plan="team", limits=LIMITS, period_end=period_end)
    )
    harness.clock.advance(timedelta(minutes=-5))

    await harness.publish(
        SubscriptionChanged(user_id=alice.id, plan="free", limits=LIMITS, period_end=period_end)
    )

    assert (await _dashboard(harness, alice))["plan"] == "team"


async def test_redelivered_events_change_nothing(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    project = new_id()
    envelopes = [
        await harness.publish(ProjectCreated(project_id=project, owner_id=alice.id, name="Apollo")),
        await harness.publish(
            TaskCreated(
                task_id=new_id(),
                project_id=project,
                creator_id=alice.id,
                title="t",
                priority="low",
                assignee_id=alice.id,
            )
        ),
        await harness.publish(NotificationCreated(notification_id=new_id(), user_id=alice.id)),
    ]
    before = await _dashboard(harness, alice)

    for envelope in envelopes:
        await harness.deliver(envelope)

    assert await _dashboard(harness, alice) == before


async def test_dashboard_needs_a_token(harness):  # type: ignore[no-untyped-def]
    response = await harness.get("/api/v1/dashboard")

    assert response.status_code == 401
