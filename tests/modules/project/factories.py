"""Builders for project tests: every one goes through the HTTP API (or, for
read-model input, publishes the event the real publisher would)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cloudtaskhub.testing import ModuleHarness, TestUser
from modules.auth.contracts import UserRegistered
from modules.billing.contracts import PlanLimits, SubscriptionChanged

API = "/api/v1"


async def registered(harness: ModuleHarness, email: str, name: str = "") -> TestUser:
    user = harness.user(email, display_name=name)
    await harness.publish(UserRegistered(user_id=user.id, email=user.email, display_name=user.display_name))
    return user


#: The billing period the `subscribe` factory announces unless told otherwise.
PERIOD_END = datetime(2027, 1, 1, tzinfo=UTC)


async def subscribe(
    harness: ModuleHarness,
    user: TestUser,
    plan: str,
    *,
    projects: int,
    members: int = 25,
    tasks: int = 10_000,
    period_end: datetime = PERIOD_END,
) -> None:
    await harness.publish(
        SubscriptionChanged(
            user_id=user.id,
            plan=plan,
            limits=PlanLimits(projects=projects, members_per_project=members, tasks_per_month=tasks),
            period_end=period_end,
        )
    )


async def create_project(harness: ModuleHarness, owner: TestUser, name: str = "Apollo") -> dict[str, Any]:
    response = await harness.post(f"{API}/projects", json={"name": name}, user=owner)
    assert response.status_code == 201, response.text
    return response.json()


async def add_member(
    harness: ModuleHarness, by: TestUser, project: dict[str, Any], who: TestUser, role: str = "member"
) -> dict[str, Any]:
    response = await harness.post(
        f"{API}/projects/{project['id']}/members", json={"email": who.email, "role": role}, user=by
    )
    assert response.status_code == 201, response.text
    return response.json()


async def create_task(
    harness: ModuleHarness, by: TestUser, project: dict[str, Any] | UUID | str, **fields: Any
) -> dict[str, Any]:
    project_id = project["id"] if isinstance(project, dict) else project
    body = {"title": "Write the spec", **fields}
    response = await harness.post(f"{API}/projects/{project_id}/tasks", json=body, user=by)
    assert response.status_code == 201, response.text
    return response.json()
