"""The whole system through its HTTP API: analytics and the gateway dashboard agree with
figures computed here, independently, from the scenario's own data.

Two users (alice is granted the admin role, as `cloudtaskhub auth grant-admin` does), three
projects, 40 tasks, assignments, reassignments, completions spread over ten days of a manual clock,
a reopened task and deleted tasks. Tokens are minted before the clock moves (they
are checked against real time).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import mean
from typing import Any
from uuid import UUID

import pytest

from cloudtaskhub.testing import ModuleHarness
from modules.analytics import module as analytics
from modules.analytics.service import provide_analytics_service
from modules.auth import module as auth
from modules.auth.contracts import UserRegistered
from modules.auth.service import provide_auth_service
from modules.billing import module as billing
from modules.billing.contracts import InvoiceIssued, SubscriptionChanged
from modules.gateway import module as gateway
from modules.notification import module as notification
from modules.notification.contracts import NotificationCreated, NotificationRead
from modules.project import module as project
from modules.project.contracts import (
    MemberAdded,
    MemberRemoved,
    ProjectCreated,
    ProjectDeleted,
    TaskAssigned,
    TaskCreated,
    TaskDeleted,
    TaskStatusChanged,
)

ANALYTICS_INPUT = (
    UserRegistered,
    ProjectCreated,
    ProjectDeleted,
    MemberAdded,
    MemberRemoved,
    TaskCreated,
    TaskAssigned,
    TaskStatusChanged,
    TaskDeleted,
    SubscriptionChanged,
    InvoiceIssued,
    NotificationCreated,
    NotificationRead,
)
PASSWORD = "correct horse battery"

# About a hundred requests through six modules: slower than the default timeout allows.
pytestmark = pytest.mark.timeout(600)


@dataclass
class Task:
    id: str
    project: str
    created_at: datetime
    due: date | None
    assignee: str | None
    status: str = "todo"
    done_at: datetime | None = None
    deleted: bool = False


@dataclass
class Scenario:
    """What happened, as the test saw it; the expected figures are derived from this alone."""

    harness: ModuleHarness
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)  # id -> name
    members: dict[str, set[str]] = field(default_factory=dict)  # project id -> user names
    tasks: dict[str, Task] = field(default_factory=dict)
    completions: list[tuple[str, str, datetime]] = field(default_factory=list)  # project, user, when

    def now(self) -> datetime:
        return self.harness.clock.now()

    async def call(self, method: str, path: str, user: str, expect: int, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[user]}"}
        response = await self.harness.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect, response.text
        return response.json() if response.content else None

    async def sign_up(self, name: str) -> None:
        email = f"{name}@example.com"
        body = {"email": email, "password": PASSWORD, "display_name": name.title()}
        registered = await self.harness.post("/api/v1/auth/register", json=body)
        assert registered.status_code == 201, registered.text
        self.ids[name] = registered.json()["id"]
        login = await self.harness.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        self.tokens[name] = login.json()["access_token"]

    async def make_admin(self, name: str) -> None:
        """What `cloudtaskhub auth grant-admin` does; the role arrives with the next sign-in."""
        email = f"{name}@example.com"
        await provide_auth_service(self.harness.runtime.module("auth")).grant_admin(email)
        login = await self.harness.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
        self.tokens[name] = login.json()["access_token"]

    async def create_project(self, owner: str, name: str) -> str:
        created = await self.call("POST", "/api/v1/projects", owner, 201, json={"name": name})
        self.projects[created["id"]] = name
        self.members[created["id"]] = {owner}
        return created["id"]  # type: ignore[no-any-return]

    async def add_member(self, project_id: str, by: str, name: str) -> None:
        body = {"email": f"{name}@example.com", "role": "member"}
        await self.call("POST", f"/api/v1/projects/{project_id}/members", by, 201, json=body)
        self.members[project_id].add(name)

    async def create_task(self, project_id: str, by: str, assignee: str | None, due: date | None) -> None:
        body: dict[str, Any] = {"title": f"task {len(self.tasks)}"}
        if assignee:
            body["assignee_id"] = self.ids[assignee]
        if due:
            body["due_date"] = due.isoformat()
        created = await self.call("POST", f"/api/v1/projects/{project_id}/tasks", by, 201, json=body)
        self.tasks[created["id"]] = Task(created["id"], project_id, self.now(), due, assignee)

    async def move(self, task: Task, by: str, status: str) -> None:
        await self.call("PATCH", f"/api/v1/tasks/{task.id}", by, 200, json={"status": status})
        task.status = status
        task.done_at = self.now() if status == "done" else None
        if status == "done":
            self.completions.append((task.project, by, self.now()))

    async def reassign(self, task: Task, by: str, to: str) -> None:
        await self.call("PATCH", f"/api/v1/tasks/{task.id}", by, 200, json={"assignee_id": self.ids[to]})
        task.assignee = to

    async def delete(self, task: Task, by: str) -> None:
        await self.call("DELETE", f"/api/v1/tasks/{task.id}", by, 204)
        task.deleted = True

    def live(self) -> list[Task]:
        return [t for t in self.tasks.values() if not t.deleted]

    # -- expected figures ------------------------------------------------------------

    def expected_summary(self, project_id: str) -> dict[str, Any]:
        today = self.now().date()
        days = [today - timedelta(days=n) for n in range(29, -1, -1)]
        live = [t for t in self.live() if t.project == project_id]
        created = Counter(t.created_at.date() for t in self.tasks.values() if t.project == project_id)
        completed = Counter(when.date() for p, _, when in self.completions if p == project_id)
        leads = [(t.done_at - t.created_at).total_seconds() for t in live if t.done_at]
        return {
            "tasks_by_status": {s: sum(t.status == s for t in live) for s in ("todo", "in_progress", "done")},
            "created_per_day": [{"date": d.isoformat(), "count": created[d]} for d in days],
            "completed_per_day": [{"date": d.isoformat(), "count": completed[d]} for d in days],
            "avg_lead_time_seconds": mean(leads) if leads else None,
            "overdue": sum(t.status != "done" and t.due is not None and t.due < today for t in live),
        }

    def expected_me(self, user: str) -> dict[str, int]:
        since = self.now() - timedelta(days=7)
        return {
            "tasks_completed_7d": sum(u == user and when >= since for _, u, when in self.completions),
            "tasks_assigned_open": sum(t.assignee == user and t.status != "done" for t in self.live()),
            "projects": sum(user in names for names in self.members.values()),
        }

    def expected_overview(self) -> dict[str, int]:
        since = self.now() - timedelta(hours=1)
        received = {
            e.id
            for e in self.harness.bus.published
            if any(c.matches(e.type) for c in ANALYTICS_INPUT) and e.time >= since
        }
        return {
            "users": len(self.ids),
            "projects": len(self.projects),
            "tasks": len(self.live()),
            "events_last_hour": len(received),
        }

    def expected_dashboard(self, user: str, plan: str) -> dict[str, Any]:
        uid = UUID(self.ids[user])
        created = {n.notification_id for n in self.harness.published(NotificationCreated) if n.user_id == uid}
        read = {n.notification_id for n in self.harness.published(NotificationRead) if n.user_id == uid}
        mine = sorted((name, pid) for pid, name in self.projects.items() if user in self.members[pid])
        return {
            "projects": [{"id": pid, "name": name} for name, pid in mine],
            "open_tasks_assigned": self.expected_me(user)["tasks_assigned_open"],
            "unread_notifications": len(created - read),
            "plan": plan,
        }

    async def figures(self) -> dict[str, Any]:
        """Everything analytics and the dashboard answer, through HTTP."""
        result: dict[str, Any] = {}
        for user in self.ids:
            result[f"me {user}"] = await self.call("GET", "/api/v1/analytics/me", user, 200)
            result[f"dashboard {user}"] = await self.call("GET", "/api/v1/dashboard", user, 200)
        for pid, names in self.members.items():
            viewer = sorted(names)[0]
            result[f"summary {pid}"] = await self.call(
                "GET", f"/api/v1/analytics/projects/{pid}/summary", viewer, 200
            )
        result["overview"] = await self.call("GET", "/api/v1/analytics/overview", "alice", 200)
        return result


@pytest.fixture
async def scenario(database_url: str, tmp_path: Any) -> AsyncIterator[Scenario]:
    modules = [auth, project, billing, notification, analytics, gateway]
    environ = {"CTH_BILLING_CLOSE_PERIOD_IN_BACKGROUND": "false"}
    async with ModuleHarness(
        modules,
        database_url=database_url,
        data_dir=str(tmp_path),
        environ=environ,
    ) as harness:
        story = Scenario(harness)
        await _play(story)
        yield story


async def _play(s: Scenario) -> None:
    """Ten days of two people working on three projects."""
    rng = random.Random(20261126)
    start = s.now().date()
    for name in ("alice", "bob"):
        await s.sign_up(name)
    await s.make_admin("alice")
    await s.call("PUT", "/api/v1/billing/subscription", "bob", 200, json={"plan": "pro"})
    apollo = await s.create_project("alice", "Apollo")
    borealis = await s.create_project("alice", "Borealis")
    cygnus = await s.create_project("bob", "Cygnus")
    await s.add_member(apollo, "alice", "bob")
    await s.add_member(cygnus, "bob", "alice")
    projects = [apollo, borealis, cygnus]

    async def create_tasks(count: int) -> None:
        for n in range(count):
            pid = projects[(len(s.tasks) + n) % 3]
            people = sorted(s.members[pid])
            due = start + timedelta(days=rng.randint(-3, 12)) if rng.random() < 0.7 else None
            await s.create_task(pid, rng.choice(people), rng.choice([*people, None]), due)

    await create_tasks(20)
    for day in range(10):
        if day == 1:
            await create_tasks(20)
        s.harness.clock.advance(timedelta(days=1, hours=rng.randint(0, 3)))
        for task in rng.sample(s.live(), 4):
            doer = rng.choice(sorted(s.members[task.project]))
            if task.status == "done" and rng.random() < 0.5:
                await s.move(task, doer, "todo")  # reopened
            elif task.status == "todo":
                await s.move(task, doer, rng.choice(["in_progress", "done"]))
            elif task.status == "in_progress":
                await s.move(task, doer, "done")
        candidates = [t for t in s.live() if len(s.members[t.project]) > 1 and t.assignee]
        task = rng.choice(candidates)
        other = next(u for u in sorted(s.members[task.project]) if u != task.assignee)
        await s.reassign(task, other, other)
        if day in (4, 7):
            done = [t for t in s.live() if t.status == "done"] or s.live()
            await s.delete(done[0], "alice" if done[0].project != cygnus else "bob")
            await s.delete(next(t for t in s.live() if t.status != "done" and t.project != cygnus), "alice")
    # Bob added alice to Cygnus, so she has at least that notification; reading one must
    # show on the dashboard. No guard: a scenario without it would fail here, not skip it.
    inbox = await s.call("GET", "/api/v1/notifications", "alice", 200)
    assert inbox["items"], "alice was added to Cygnus but has no notification"
    await s.call("POST", f"/api/v1/notifications/{inbox['items'][-1]['id']}/read", "alice", 204)


async def test_figures_equal_those_computed_from_the_scenario(scenario: Scenario) -> None:
    figures = await scenario.figures()

    for pid in scenario.projects:
        assert figures[f"summary {pid}"] == scenario.expected_summary(pid), scenario.projects[pid]
    for user in ("alice", "bob"):
        assert figures[f"me {user}"] == scenario.expected_me(user), user
    assert figures["overview"] == scenario.expected_overview()
    assert figures["dashboard alice"] == scenario.expected_dashboard("alice", plan="free")
    assert figures["dashboard bob"] == scenario.expected_dashboard("bob", plan="pro")
    assert len(scenario.tasks) == 40
    assert len(scenario.completions) > 10


async def test_rebuild_and_redelivery_change_no_figure(scenario: Scenario) -> None:
    before = await scenario.figures()

    await provide_analytics_service(scenario.harness.runtime.module("analytics")).rebuild()
    after_rebuild = await scenario.figures()
    # Every event once more, all at once (one by one would take minutes).
    settled = await scenario.harness.bus.inner.publish(list(scenario.harness.bus.published))
    await asyncio.gather(*settled)
    await scenario.harness.settle()
    after_redelivery = await scenario.figures()

    assert after_rebuild == before
    assert after_redelivery == before


async def test_non_members_get_404_and_non_admins_403(database_url: str, tmp_path: Any) -> None:
    async with ModuleHarness(
        [auth, project, analytics],
        database_url=database_url,
        data_dir=str(tmp_path),
    ) as harness:
        s = Scenario(harness)
        for name in ("alice", "bob"):
            await s.sign_up(name)
        await s.make_admin("alice")
        apollo = await s.create_project("alice", "Apollo")

        not_member = await s.call("GET", f"/api/v1/analytics/projects/{apollo}/summary", "bob", 404)
        not_admin = await s.call("GET", "/api/v1/analytics/overview", "bob", 403)
        await s.call("GET", f"/api/v1/analytics/projects/{apollo}/summary", "alice", 200)
        await s.call("GET", "/api/v1/analytics/overview", "alice", 200)

    assert not_member["status"] == 404
    assert not_admin["status"] == 403
