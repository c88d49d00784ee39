"""Notification fixtures: the module on the in-process bus, with 127.0.0.1 allowed
as a webhook target and fast retries."""

from __future__ import annotations

import pytest

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness
from modules.notification import module as notification
from modules.project.contracts import ProjectCreated, TaskCreated

ENVIRON = {
    "CTH_NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32",
    "CTH_NOTIFICATION_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
    "CTH_NOTIFICATION_WEBHOOK_POLL_SECONDS": "0.1",
    "CTH_NOTIFICATION_SSE_HEARTBEAT_SECONDS": "0.5",
}


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [notification], database_url=database_url, data_dir=str(tmp_path), environ=ENVIRON
    ) as h:
        yield h


@pytest.fixture
def alice(harness):  # type: ignore[no-untyped-def]
    return harness.user("alice@example.com")


@pytest.fixture
def bob(harness):  # type: ignore[no-untyped-def]
    return harness.user("bob@example.com")


@pytest.fixture
async def project(harness, alice):  # type: ignore[no-untyped-def]
    """Alice's project Apollo."""
    event = ProjectCreated(project_id=new_id(), owner_id=alice.id, name="Apollo")
    await harness.publish(event)
    return event


@pytest.fixture
async def task(harness, alice, project):  # type: ignore[no-untyped-def]
    """A task Alice created in Apollo."""
    event = TaskCreated(
        task_id=new_id(),
        project_id=project.project_id,
        creator_id=alice.id,
        title="Write the launch plan",
        priority="high",
        assignee_id=None,
    )
    await harness.publish(event)
    return event
