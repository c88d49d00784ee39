"""The whole system through its HTTP API: analytics and the gateway dashboard agree with
figures computed here, independently, from the scenario's own requests.

Nothing expected is read back from the system: not the published events, not a count.
What each request must publish (API.md's event catalog) and whom notification must
tell (its rules, below) are written out here, so a handler that drops, doubles or
misroutes a notification or an event changes a figure the test did not take from it.

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

import pytest

from cloudtaskhub.testing import ModuleHarness
from modules.analytics import module as analytics
from modules.analytics.service import provide_analytics_service
from modules.auth import module as auth
from modules.auth.service import provide_auth_service
from modules.billing import module as billing
from modules.gateway import module as gateway
from modules.notification import module as notification
from modules.project import module as project

# The event types analytics logs (README's module map: every domain event; heartbeats are
# not). Each request below appends what it must publish; `events_last_hour` counts those.
ANALYTICS_INPUT = frozenset(
    {
        "user_registered",
        "project_created",
        "project_deleted",
        "member_added",
        "member_removed",
        "task_created",
        "task_assigned",
        "task_unassigned",
        "task_status_changed",
        "task_deleted",
        "subscription_changed",
        "invoice_issued",
        "notification_created",
        "notification_read",
    }
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
    creator: str
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
    owners: dict[str, str] = field(default_factory=dict)  # project id -> user name
    members: dict[str, set[str]] = field(default_factory=dict)  # project id -> user names
    tasks: dict[str, Task] = field(default_factory=dict)
    completions: list[tuple[str, str, datetime]] = field(default_factory=list)  # project, user, when
    events: list[tuple[datetime, str]] = field(default_factory=list)  # when, type: what must be published
    notified: Counter[str] = field(default_factory=Counter)  # user -> notifications they must have
    read: Counter[str] = field(default_factory=Counter)  # user -> notifications they read
    plans: dict[str, str] = field(default_factory=dict)  # user -> plan chosen (free if absent)

    def now(self) -> datetime:
        return self.harness.clock.now()

    def published(self, *types: str) -> None:
        """Note what the request just answered must have published (API.md's catalog)."""
        self.events.extend((self.now(), t) for t in types)

    def notify(self, *users: str) -> None:
        """Notification's handlers tell each of `users`; each one is a notification_created."""
        for user in users:
            self.notified[user] += 1
            self.published("notification_created")

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
        # Billing starts everyone on free: a subscription_changed with no previous plan,
        # which notification does not announce.
        self.published("user_registered", "subscription_changed")
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
        self.owners[created["id"]] = owner
        self.members[created["id"]] = {owner}
        self.published("project_created")
        return created["id"]  # type: ignore[no-any-return]

    async def add_member(self, project_id: str, by: str, name: str) -> None:
        body = {"email": f"{name}@example.com", "role": "member"}
        await self.call("POST", f"/api/v1/projects/{project_id}/members", by, 201, json=body)
        self.members[project_id].add(name)
        self.published("member_added")
        if name != self.owners[project_id]:  # the owner is not told they joined their own project
            self.notify(name)

    async def upgrade(self, user: str, plan: str) -> None:
        """From free to a paid plan: an invoice, and notification tells of both."""
        await self.call("PUT", "/api/v1/billing/subscription", user, 200, json={"plan": plan})
        self.plans[user] = plan
        self.published("invoice_issued", "subscription_changed")
        self.notify(user, user)  # invoice_issued, plan_changed

    async def create_task(self, project_id: str, by: str, assignee: str | None, due: date | None) -> None:
        body: dict[str, Any] = {"title": f"task {len(self.tasks)}"}
        if assignee:
            body["assignee_id"] = self.ids[assignee]
        if due:
            body["due_date"] = due.isoformat()
        created = await self.call("POST", f"/api/v1/projects/{project_id}/tasks", by, 201, json=body)
        self.tasks[created["id"]] = Task(created["id"], project_id, self.now(), due, assignee, by)
        self.published("task_created")
        if assignee:
            self.assigned(assignee, by)

    def assigned(self, assignee: str, by: str) -> None:
        self.published("task_assigned")
        if assignee != by:  # nobody is told they assigned themselves
            self.notify(assignee)

    async def move(self, task: Task, by: str, status: str) -> None:
        assert status != task.status, "an unchanged status publishes nothing; the scenario never sends one"
        await self.call("PATCH", f"/api/v1/tasks/{task.id}", by, 200, json={"status": status})
        self.published("task_status_changed")
        if status == "done":  # the owner and the creator hear of it, once each, unless they did it
            self.notify(*({self.owners[task.project], task.creator} - {by}))
        task.status = status
        task.done_at = self.now() if status == "done" else None
        if status == "done":
            self.completions.append((task.project, by, self.now()))

    async def reassign(self, task: Task, by: str, to: str) -> None:
        assert to != task.assignee, "an unchanged assignee publishes nothing; the scenario never sends one"
        await self.call("PATCH", f"/api/v1/tasks/{task.id}", by, 200, json={"assignee_id": self.ids[to]})
        self.assigned(to, by)
        task.assignee = to

    async def delete(self, task: Task, by: str) -> None:
        await self.call("DELETE", f"/api/v1/tasks/{task.id}", by, 204)
        self.published("task_deleted")
        task.deleted = True

    async def read_oldest_unread(self, user: str) -> None:
        unread = await self.call("GET", "/api/v1/notifications?unread=true&limit=100", user, 200)
        # The count is checked by the dashboard figure; here only that there is one to read.
        assert unread["items"], f"{user} must have {self.notified[user]} notifications, has none unread"
        await self.call("POST", f"/api/v1/notifications/{unread['items'][-1]['id']}/read", user, 204)
        self.read[user] += 1
        self.published("notification_read")

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
        return {
            "users": len(self.ids),
            "projects": len(self.projects),
            "tasks": len(self.live()),
            "events_last_hour": sum(when >= since and t in ANALYTICS_INPUT for when, t in self.events),
        }

    def expected_dashboard(self, user: str, plan: str) -> dict[str, Any]:
        mine = sorted((name, pid) for pid, name in self.projects.items() if user in self.members[pid])
        return {
            "projects": [{"id": pid, "name": name} for name, pid in mine],
            "open_tasks_assigned": self.expected_me(user)["tasks_assigned_open"],
            "unread_notifications": self.notified[user] - self.read[user],
            "plan": plan,
        }

    def expected(self) -> dict[str, Any]:
        """`figures()` as it must read, from this scenario's requests alone."""
        result: dict[str, Any] = {}
        for user in self.ids:
            result[f"me {user}"] = self.expected_me(user)
            result[f"dashboard {user}"] = self.expected_dashboard(user, plan=self.plans.get(user, "free"))
        for pid in self.members:
            result[f"summary {pid}"] = self.expected_summary(pid)
        result["overview"] = self.expected_overview()
        return result

    async def settled_figures(self, timeout: float = 10.0) -> dict[str, Any]:
        """`figures()` once they equal `expected()`, or as they stand at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        figures = await self.figures()
        while figures != self.expected() and loop.time() < deadline:
            await asyncio.sleep(0.05)
            figures = await self.figures()
        return figures

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
    await s.upgrade("bob", "pro")
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
    await s.read_oldest_unread("alice")


async def test_figures_equal_those_computed_from_the_scenario(scenario: Scenario) -> None:
    figures = await scenario.settled_figures()

    for pid in scenario.projects:
        assert figures[f"summary {pid}"] == scenario.expected_summary(pid), scenario.projects[pid]
    for user in ("alice", "bob"):
        assert figures[f"me {user}"] == scenario.expected_me(user), user
    assert figures["overview"] == scenario.expected_overview()
    assert figures["dashboard alice"] == scenario.expected_dashboard("alice", plan="free")
    assert figures["dashboard bob"] == scenario.expected_dashboard("bob", plan="pro")
    # The figures above are not trivially zero: the scenario exercises what they count.
    assert len(scenario.tasks) == 40
    assert len(scenario.completions) > 10
    assert figures["overview"]["events_last_hour"] > 5
    assert all(figures[f"dashboard {user}"]["unread_notifications"] > 5 for user in ("alice", "bob"))


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
