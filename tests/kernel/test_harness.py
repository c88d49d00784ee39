"""The module test harness: a whole event-driven behaviour tested in a few lines.

Stimulus (an event as if its publisher sent it, or an HTTP call), then wait for the
event it causes, then verify what a user would see.
"""

from __future__ import annotations

import pytest

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness
from modules.notification import module as notification
from modules.notification.contracts import NotificationCreated
from modules.project.contracts import TaskAssigned


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([notification], database_url=database_url, data_dir=str(tmp_path)) as h:
        yield h


async def test_a_task_assigned_event_gives_the_assignee_one_notification(harness):  # type: ignore[no-untyped-def]
    bob, task_id = harness.user("bob@example.com"), new_id()
    assigned = TaskAssigned(task_id=task_id, project_id=new_id(), assignee_id=bob.id, assigned_by=new_id())

    created = await harness.stimulate(harness.publish(assigned)).wait_for(
        NotificationCreated, where=lambda e: e.user_id == bob.id
    )

    page = (await harness.get("/api/v1/notifications", user=bob)).json()
    assert [(n["id"], n["kind"], n["subject_id"]) for n in page["items"]] == [
        (str(created.notification_id), "task_assigned", str(task_id))
    ]


async def test_stimulate_keeps_what_the_action_returned(harness):  # type: ignore[no-untyped-def]
    bob = harness.user("bob@example.com")
    assigned = TaskAssigned(task_id=new_id(), project_id=new_id(), assignee_id=bob.id, assigned_by=new_id())
    stimulus = harness.stimulate(harness.publish(assigned))

    await stimulus.wait_for(NotificationCreated)

    assert stimulus.result.type == "cloudtaskhub.project.task_assigned.v1"


async def test_waiting_for_an_event_that_never_comes_fails_naming_it(harness):  # type: ignore[no-untyped-def]
    alice = harness.user("alice@example.com")
    to_self = TaskAssigned(task_id=new_id(), project_id=new_id(), assignee_id=alice.id, assigned_by=alice.id)

    with pytest.raises(AssertionError, match=r"no cloudtaskhub\.notification\.notification_created\.v1"):
        await harness.stimulate(harness.publish(to_self)).wait_for(NotificationCreated, timeout=0.2)
