"""Bench data, set up through the public API only (register, login, projects, tasks)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

PASSWORD = "bench-password-1"


@dataclass(frozen=True)
class Account:
    user_id: str
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def header_line(self) -> str:
        return f"Authorization: Bearer {self.token}"


@dataclass(frozen=True)
class Dataset:
    owner: Account
    member: Account
    #: Read by the list benchmark: `tasks` tasks, never written during a run.
    list_project: str
    #: Receives the POSTs.
    write_project: str
    task_id: str


def _ok(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
        )
    return response


def account(client: httpx.Client, email: str) -> Account:
    registered = _ok(
        client.post(
            "/api/v1/auth/register",
            json={"email": email, "password": PASSWORD, "display_name": email.split("@")[0]},
        ),
        201,
    ).json()
    login = _ok(client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}), 200).json()
    return Account(registered["id"], email, login["access_token"])


def retry(call: object, timeout: float = 20.0) -> httpx.Response:
    """Eventually consistent steps (the directory learns of a registration by event)."""
    deadline = time.monotonic() + timeout
    while True:
        response: httpx.Response = call()  # type: ignore[operator]
        if response.status_code < 400 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def on_team_plan(client: httpx.Client, owner: Account) -> None:
    """Put `owner` on the team plan and wait until the project module applies it.

    A benchmark creates far more tasks than the free plan's 100 a month. The project
    module learns the plan from billing's event; the free plan allows 3 projects, so a
    4th one is created only once the team plan has reached it (the wait owns 4 projects).
    """
    _ok(client.put("/api/v1/billing/subscription", json={"plan": "team"}, headers=owner.headers), 200)
    for number in range(1, 5):
        _ok(
            retry(
                lambda number=number: client.post(
                    "/api/v1/projects", json={"name": f"Plan check {number}"}, headers=owner.headers
                )
            ),
            201,
        )


def create_dataset(base_url: str, tasks: int = 30, tag: str = "bench") -> Dataset:
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        owner = account(client, f"{tag}-owner@example.com")
        member = account(client, f"{tag}-member@example.com")
        on_team_plan(client, owner)
        listed = _ok(
            client.post("/api/v1/projects", json={"name": "Bench list"}, headers=owner.headers), 201
        ).json()["id"]
        written = _ok(
            client.post("/api/v1/projects", json={"name": "Bench writes"}, headers=owner.headers), 201
        ).json()["id"]
        for project in (listed, written):
            _ok(
                retry(
                    lambda project=project: client.post(
                        f"/api/v1/projects/{project}/members",
                        json={"email": member.email, "role": "member"},
                        headers=owner.headers,
                    )
                ),
                201,
            )
        first = ""
        for number in range(tasks):
            created = _ok(
                client.post(
                    f"/api/v1/projects/{listed}/tasks",
                    json={
                        "title": f"Task {number:03d}: write the quarterly report",
                        "description": "Collect the numbers, draft, review with the team.",
                        "priority": ("low", "medium", "high", "urgent")[number % 4],
                        "labels": ["bench", f"group-{number % 5}"],
                        "due_date": f"2030-01-{1 + number % 28:02d}",
                    },
                    headers=owner.headers,
                ),
                201,
            ).json()
            first = first or created["id"]
        return Dataset(owner, member, listed, written, first)


def list_path(dataset: Dataset) -> str:
    return f"/api/v1/projects/{dataset.list_project}/tasks?limit=20"
