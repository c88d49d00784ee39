"""Notifications from events: who is told what, listing, marking read."""

from __future__ import annotations

from uuid import UUID

from cloudtaskhub.clock import new_id
from modules.billing.contracts import InvoiceIssued, PlanLimits, SubscriptionChanged
from modules.notification.contracts import NotificationCreated, NotificationRead
from modules.project.contracts import MemberAdded, TaskAssigned, TaskStatusChanged

LIMITS = PlanLimits(projects=20, members_per_project=25, tasks_per_month=5000)


async def _items(harness, user, query=""):  # type: ignore[no-untyped-def]
    response = await harness.get(f"/api/v1/notifications{query}", user=user)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_assigning_a_task_notifies_the_assignee_once(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    event = TaskAssigned(
        task_id=task.task_id, project_id=task.project_id, assignee_id=bob.id, assigned_by=alice.id
    )

    envelope = await harness.publish(event)
    await harness.deliver(envelope)

    items = await _items(harness, bob)
    assert [(i["kind"], i["subject_id"], i["body"]) for i in items] == [
        ("task_assigned", str(task.task_id), "Write the launch plan")
    ]
    assert items[0]["read_at"] is None
    assert [e.user_id for e in harness.published(NotificationCreated)] == [bob.id]
    assert await _items(harness, alice) == []


async def test_assigning_oneself_notifies_nobody(harness, alice, task):  # type: ignore[no-untyped-def]
    await harness.publish(
        TaskAssigned(
            task_id=task.task_id, project_id=task.project_id, assignee_id=alice.id, assigned_by=alice.id
        )
    )

    assert await _items(harness, alice) == []


async def test_task_done_notifies_owner_and_creator_but_not_the_actor(harness, alice, bob, project):  # type: ignore[no-untyped-def]
    carol = harness.user("carol@example.com")
    task_id = new_id()

    await harness.publish(
        TaskStatusChanged(
            task_id=task_id,
            project_id=project.project_id,
            old="in_progress",
            new="done",
            changed_by=bob.id,
            creator_id=carol.id,
        )
    )

    assert [i["kind"] for i in await _items(harness, alice)] == ["task_done"]  # owner, from the read model
    assert [i["subject_id"] for i in await _items(harness, carol)] == [str(task_id)]
    assert await _items(harness, bob) == []


async def test_other_status_changes_notify_nobody(harness, alice, bob, task):  # type: ignore[no-untyped-def]
    await harness.publish(
        TaskStatusChanged(
            task_id=task.task_id, project_id=task.project_id, old="todo", new="in_progress", changed_by=bob.id
        )
    )

    assert await _items(harness, alice) == []


async def test_being_added_to_a_project_notifies_the_added_user(harness, bob, project):  # type: ignore[no-untyped-def]
    await harness.publish(MemberAdded(project_id=project.project_id, user_id=bob.id, role="member"))

    items = await _items(harness, bob)
    assert [(i["kind"], i["subject_id"], i["body"]) for i in items] == [
        ("member_added", str(project.project_id), "Apollo (as member)")
    ]


async def test_invoice_issued_notifies_the_user(harness, alice):  # type: ignore[no-untyped-def]
    invoice_id = new_id()

    await harness.publish(
        InvoiceIssued(
            invoice_id=invoice_id, user_id=alice.id, total_cents=560, currency="USD", number="INV-2026-000001"
        )
    )

    [item] = await _items(harness, alice)
    assert (item["kind"], item["subject_id"], item["title"], item["body"]) == (
        "invoice_issued",
        str(invoice_id),
        "Invoice INV-2026-000001 issued",
        "Total 5.60 USD",
    )


async def test_plan_change_notifies_but_the_first_free_plan_does_not(harness, alice):  # type: ignore[no-untyped-def]
    subscription_id = new_id()
    common = {"user_id": alice.id, "subscription_id": subscription_id, "period_end": harness.clock.now()}
    await harness.publish(SubscriptionChanged(plan="free", limits=LIMITS, previous_plan=None, **common))

    await harness.publish(SubscriptionChanged(plan="pro", limits=LIMITS, previous_plan="free", **common))

    items = await _items(harness, alice)
    assert [(i["kind"], i["subject_id"]) for i in items] == [("plan_changed", str(subscription_id))]


async def test_list_is_newest_first_with_unread_filter_and_cursor(harness, alice, bob):  # type: ignore[no-untyped-def]
    projects = [new_id() for _ in range(3)]
    for project_id in projects:
        await harness.publish(MemberAdded(project_id=project_id, user_id=bob.id, role="member"))
    oldest = (await _items(harness, bob))[-1]
    await harness.post(f"/api/v1/notifications/{oldest['id']}/read", user=bob)

    first = (await harness.get("/api/v1/notifications?unread=true&limit=1", user=bob)).json()
    second = (
        await harness.get(
            f"/api/v1/notifications?unread=true&limit=1&cursor={first['next_cursor']}", user=bob
        )
    ).json()

    assert [i["subject_id"] for i in first["items"] + second["items"]] == [str(projects[2]), str(projects[1])]
    assert second["next_cursor"] is None


async def test_marking_read_publishes_notification_read(harness, bob):  # type: ignore[no-untyped-def]
    await harness.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
    [item] = await _items(harness, bob)

    response = await harness.post(f"/api/v1/notifications/{item['id']}/read", user=bob)
    await harness.post(f"/api/v1/notifications/{item['id']}/read", user=bob)

    assert response.status_code == 204
    assert [e.notification_id for e in harness.published(NotificationRead)] == [UUID(item["id"])]
    assert await _items(harness, bob, "?unread=true") == []


async def test_someone_elses_notification_is_not_found(harness, alice, bob):  # type: ignore[no-untyped-def]
    await harness.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
    [item] = await _items(harness, bob)

    response = await harness.post(f"/api/v1/notifications/{item['id']}/read", user=alice)

    assert response.status_code == 404
    assert (await _items(harness, bob))[0]["read_at"] is None


async def test_read_all_publishes_one_read_per_unread_notification(harness, bob):  # type: ignore[no-untyped-def]
    for _ in range(3):
        await harness.publish(MemberAdded(project_id=new_id(), user_id=bob.id, role="member"))
    first = (await _items(harness, bob))[0]
    await harness.post(f"/api/v1/notifications/{first['id']}/read", user=bob)

    response = await harness.post("/api/v1/notifications/read-all", user=bob)

    assert response.status_code == 204
    assert len(harness.published(NotificationRead)) == 3
    assert await _items(harness, bob, "?unread=true") == []
