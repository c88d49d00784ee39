"""The scenario every observability test drives: a task changes hands.

Alice (registered through the events auth would publish) creates a project and a
task, then `PATCH /api/v1/tasks/{id}` assigns it to herself: project records
`TaskAssigned` in its outbox, the relay publishes it, and every module that
subscribes to it (notification, gateway, analytics…) handles it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cloudtaskhub.module import Module
from cloudtaskhub.testing import ModuleHarness
from modules.auth.contracts import UserRegistered
from modules.project.contracts import TaskAssigned

API = "/api/v1"
PATCH_ROUTE = "/api/v1/tasks/{task_id}"


def consumers_of(event: type[Any], modules: Sequence[Module]) -> set[str]:
    """Names of the mounted modules that subscribe to `event`."""
    type_ = event.__event_type__
    return {m.name for m in modules for s in m.subscriptions if s.event.matches(type_)}


def assigned_type() -> str:
    return str(TaskAssigned.__event_type__)


async def assign_a_task(harness: ModuleHarness) -> None:
    """Register Alice, create a project and a task, and PATCH the task to assign it."""
    alice = harness.user("alice@example.com", display_name="Alice")
    await harness.publish(UserRegistered(user_id=alice.id, email=alice.email, display_name="Alice"))
    project = (await harness.post(f"{API}/projects", json={"name": "Apollo"}, user=alice)).json()
    task = (
        await harness.post(f"{API}/projects/{project['id']}/tasks", json={"title": "Spec"}, user=alice)
    ).json()
    response = await harness.request(
        "PATCH", f"{API}/tasks/{task['id']}", json={"assignee_id": str(alice.id)}, user=alice
    )
    assert response.status_code == 200, response.text
