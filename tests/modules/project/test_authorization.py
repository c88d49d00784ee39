"""Who may do what: outsider, member, admin and owner against every endpoint.

Outsiders get 404 for everything under a project (its existence is not
revealed); members read and write tasks; owner and admins manage members and
edit the project; only the owner deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.modules.project.factories import API, add_member, create_project, create_task, registered

if TYPE_CHECKING:  # imported for annotations only: pytest would try to collect `TestUser`
    from cloudtaskhub.testing import ModuleHarness, TestUser


@dataclass
class Scene:
    users: dict[str, TestUser]
    project: dict[str, Any]
    task: dict[str, Any]
    bystander: TestUser
    newcomer: TestUser


@pytest.fixture
async def scene(harness: ModuleHarness) -> Scene:
    owner = await registered(harness, "owner@example.com")
    admin = await registered(harness, "admin@example.com")
    member = await registered(harness, "member@example.com")
    outsider = await registered(harness, "outsider@example.com")
    bystander = await registered(harness, "bystander@example.com")
    newcomer = await registered(harness, "newcomer@example.com")
    project = await create_project(harness, owner)
    await add_member(harness, owner, project, admin, "admin")
    await add_member(harness, owner, project, member)
    await add_member(harness, owner, project, bystander)
    await create_project(harness, outsider, "Outsider's own")
    task = await create_task(harness, owner, project)
    users = {"owner": owner, "admin": admin, "member": member, "outsider": outsider}
    return Scene(users, project, task, bystander, newcomer)


def request_for(endpoint: str, s: Scene) -> tuple[str, str, dict[str, Any]]:
    p, t = s.project["id"], s.task["id"]
    return {
        "get project": ("GET", f"{API}/projects/{p}", {}),
        "update project": ("PATCH", f"{API}/projects/{p}", {"json": {"name": "Renamed"}}),
        "delete project": ("DELETE", f"{API}/projects/{p}", {}),
        "add member": ("POST", f"{API}/projects/{p}/members", {"json": {"email": s.newcomer.email}}),
        "list members": ("GET", f"{API}/projects/{p}/members", {}),
        "remove member": ("DELETE", f"{API}/projects/{p}/members/{s.bystander.id}", {}),
        "create task": ("POST", f"{API}/projects/{p}/tasks", {"json": {"title": "New"}}),
        "list tasks": ("GET", f"{API}/projects/{p}/tasks", {}),
        "get task": ("GET", f"{API}/tasks/{t}", {}),
        "update task": ("PATCH", f"{API}/tasks/{t}", {"json": {"status": "done"}}),
        "delete task": ("DELETE", f"{API}/tasks/{t}", {}),
    }[endpoint]


#: endpoint → expected status for (outsider, member, admin, owner)
MATRIX = {
    "get project": (404, 200, 200, 200),
    "update project": (404, 403, 200, 200),
    "delete project": (404, 403, 403, 204),
    "add member": (404, 403, 201, 201),
    "list members": (404, 200, 200, 200),
    "remove member": (404, 403, 204, 204),
    "create task": (404, 201, 201, 201),
    "list tasks": (404, 200, 200, 200),
    "get task": (404, 200, 200, 200),
    "update task": (404, 200, 200, 200),
    "delete task": (404, 204, 204, 204),
}
ROLES = ("outsider", "member", "admin", "owner")
CASES = [(endpoint, role, codes[i]) for endpoint, codes in MATRIX.items() for i, role in enumerate(ROLES)]


@pytest.mark.parametrize(("endpoint", "role", "expected"), CASES)
async def test_authorization_matrix(harness, scene, endpoint, role, expected):  # type: ignore[no-untyped-def]
    method, path, kwargs = request_for(endpoint, scene)

    response = await harness.request(method, path, user=scene.users[role], **kwargs)

    assert response.status_code == expected, response.text


async def test_a_refused_write_changes_nothing(harness, scene):  # type: ignore[no-untyped-def]
    project = scene.project

    await harness.patch(f"{API}/projects/{project['id']}", json={"name": "X"}, user=scene.users["member"])
    await harness.delete(f"{API}/projects/{project['id']}", user=scene.users["admin"])
    await harness.patch(f"{API}/tasks/{scene.task['id']}", json={"title": "X"}, user=scene.users["outsider"])

    assert (await harness.get(f"{API}/projects/{project['id']}", user=scene.users["owner"])).json() == {
        **project,
        "role": "owner",
    }
    assert (
        await harness.get(f"{API}/tasks/{scene.task['id']}", user=scene.users["owner"])
    ).json() == scene.task


async def test_outsiders_do_not_see_the_project_in_their_list(harness, scene):  # type: ignore[no-untyped-def]
    response = await harness.get(f"{API}/projects", user=scene.users["outsider"])

    assert [p["name"] for p in response.json()["items"]] == ["Outsider's own"]
