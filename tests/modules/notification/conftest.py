"""Notification fixtures: the module on the in-process bus, with 127.0.0.1 allowed
as a webhook target and fast retries."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from cloudtaskhub.clock import new_id
from cloudtaskhub.testing import ModuleHarness
from modules.notification import module as notification
from modules.notification.models import DeliveryModel
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


async def register(harness, user, url, event_types=("task_assigned",)):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/notifications/webhooks", json={"url": url, "event_types": list(event_types)}, user=user
    )
    assert response.status_code == 201, response.text
    return response.json()


async def attempts_of(harness, user, webhook_id, count, timeout=5.0):  # type: ignore[no-untyped-def]
    """Poll the deliveries endpoint until `count` attempts are listed (delivery is asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        items = (
            await harness.get(f"/api/v1/notifications/webhooks/{webhook_id}/deliveries", user=user)
        ).json()["items"]
        if len(items) >= count or asyncio.get_running_loop().time() > deadline:
            return sorted(items, key=lambda item: item["attempt"])
        await asyncio.sleep(0.05)


async def delivery_status(harness, until, timeout=5.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with harness.runtime.module("notification").uow.read() as session:
            status = await session.scalar(select(DeliveryModel.status))
        if status == until or asyncio.get_running_loop().time() > deadline:
            return status
        await asyncio.sleep(0.05)
