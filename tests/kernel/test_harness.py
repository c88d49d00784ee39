"""The module test harness: a whole event-driven behaviour tested in a few lines.

Stimulus (an event as if its publisher sent it, or an HTTP call), then wait for the
event it causes, then verify what a user would see.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness, UnexpectedHandlerFailure
from modules.auth.contracts import UserRegistered
from modules.notification import module as notification
from modules.notification.contracts import NotificationCreated
from modules.project.contracts import TaskAssigned
from tests.kernel.probe import failures, probe


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


# A handler that crashes must not pass for one that did nothing: the harness fails on
# exit for every handler exception or dead letter the test did not declare.


@pytest.fixture
def failing_probe() -> Iterator[None]:
    failures.remaining = 10_000
    failures.attempts = 0
    yield
    failures.remaining = 0
    failures.attempts = 0


async def _register(harness: ModuleHarness) -> None:
    ada = harness.user("ada@example.com")
    await harness.publish(UserRegistered(user_id=ada.id, email=ada.email, display_name="Ada"))


@pytest.mark.usefixtures("failing_probe")
async def test_an_undeclared_dead_letter_fails_the_test_on_exit(database_url, tmp_path):  # type: ignore[no-untyped-def]
    harness = ModuleHarness([probe], database_url=database_url, data_dir=str(tmp_path))

    with pytest.raises(
        UnexpectedHandlerFailure, match=r"probe dead-lettered on cloudtaskhub\.auth\.user_registered"
    ):
        async with harness:
            await _register(harness)


async def test_an_undeclared_retried_failure_fails_the_test_on_exit(database_url, tmp_path):  # type: ignore[no-untyped-def]
    harness = ModuleHarness([probe], database_url=database_url, data_dir=str(tmp_path))
    failures.remaining, failures.attempts = 1, 0

    with pytest.raises(UnexpectedHandlerFailure, match=r"probe handler raised .*probe told to fail"):
        async with harness:
            await _register(harness)
    assert failures.attempts == 2  # it was retried and then succeeded: still a crash to report


@pytest.mark.usefixtures("failing_probe")
async def test_a_declared_dead_letter_passes(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([probe], database_url=database_url, data_dir=str(tmp_path)) as harness:
        harness.expect_dead_letter(UserRegistered, consumer="probe")

        await _register(harness)

    assert [f.dead_lettered for f in harness.failures][-1] is True


async def test_a_declared_failure_that_never_happens_fails_the_test(database_url, tmp_path):  # type: ignore[no-untyped-def]
    harness = ModuleHarness([probe], database_url=database_url, data_dir=str(tmp_path))

    with pytest.raises(UnexpectedHandlerFailure, match=r"expected a dead letter .* none happened"):
        async with harness:
            harness.expect_dead_letter(UserRegistered, consumer="probe")
            await _register(harness)


@pytest.mark.usefixtures("failing_probe")
async def test_a_handler_failure_declaration_does_not_cover_a_dead_letter(database_url, tmp_path):  # type: ignore[no-untyped-def]
    harness = ModuleHarness([probe], database_url=database_url, data_dir=str(tmp_path))

    with pytest.raises(UnexpectedHandlerFailure, match="dead-lettered"):
        async with harness:
            harness.expect_handler_failure(UserRegistered, consumer="probe")
            await _register(harness)
