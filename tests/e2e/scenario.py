"""The client scenario: one user journey over HTTP only, the same code for every shape.

It knows nothing of processes, buses or databases: it gets a base URL (an
all-in-one process, or Traefik in front of six processes) and what the status
page should show. Reactions to events are eventually consistent, so it polls for
them with a deadline; it never sleeps a fixed time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

__all__ = ["Scenario", "Shape"]

T = TypeVar("T")
PASSWORD = "correct horse battery staple"
PROBLEM_JSON = "application/problem+json"
#: How long an event may take from the publisher's commit to a reader's view.
EVENTUALLY = 30.0
#: Operations of each module's public API (docs/API.md), as `/schema/openapi.json`
#: must describe them whichever process serves the document.
PUBLIC_OPERATIONS: dict[str, tuple[str, ...]] = {
    "gateway": ("GET /", "GET /api/v1/dashboard", "GET /api/v1/status"),
    "auth": (
        "POST /api/v1/auth/register",
        "POST /api/v1/auth/login",
        "POST /api/v1/auth/refresh",
        "POST /api/v1/auth/logout",
        "GET /api/v1/auth/me",
        "GET /api/v1/auth/jwks",
    ),
    "project": (
        "POST /api/v1/projects",
        "GET /api/v1/projects",
        "GET /api/v1/projects/{project_id}",
        "PATCH /api/v1/projects/{project_id}",
        "DELETE /api/v1/projects/{project_id}",
        "POST /api/v1/projects/{project_id}/members",
        "GET /api/v1/projects/{project_id}/members",
        "DELETE /api/v1/projects/{project_id}/members/{user_id}",
        "POST /api/v1/projects/{project_id}/tasks",
        "GET /api/v1/projects/{project_id}/tasks",
        "GET /api/v1/tasks/{task_id}",
        "PATCH /api/v1/tasks/{task_id}",
        "DELETE /api/v1/tasks/{task_id}",
    ),
    "billing": (
        "GET /api/v1/billing/plans",
        "GET /api/v1/billing/subscription",
        "PUT /api/v1/billing/subscription",
        "GET /api/v1/billing/usage",
        "GET /api/v1/billing/invoices",
        "GET /api/v1/billing/invoices/{invoice_id}",
    ),
    "notification": (
        "GET /api/v1/notifications",
        "POST /api/v1/notifications/{notification_id}/read",
        "POST /api/v1/notifications/read-all",
        "GET /api/v1/notifications/stream",
        "POST /api/v1/notifications/webhooks",
        "GET /api/v1/notifications/webhooks",
        "DELETE /api/v1/notifications/webhooks/{webhook_id}",
        "GET /api/v1/notifications/webhooks/{webhook_id}/deliveries",
    ),
    "analytics": (
        "GET /api/v1/analytics/projects/{project_id}/summary",
        "GET /api/v1/analytics/me",
        "GET /api/v1/analytics/overview",
    ),
}
#: Each module's admin operations live under its own primary prefix.
ADMIN_PREFIXES = {
    "gateway": "/api/v1/dashboard",
    "auth": "/api/v1/auth",
    "project": "/api/v1/projects",
    "billing": "/api/v1/billing",
    "notification": "/api/v1/notifications",
    "analytics": "/api/v1/analytics",
}


@dataclass(frozen=True)
class Shape:
    """What the status page should show: one process per module, or one for all."""

    split: bool
    bus: str
    modules: tuple[str, ...] = ("analytics", "auth", "billing", "gateway", "notification", "project")
    #: How many processes serve them (replicas on Swarm); by default one per module when
    #: split, one in all.
    processes: int | None = None

    @property
    def expected_processes(self) -> int:
        return self.processes or (len(self.modules) if self.split else 1)


def eventually(probe: Callable[[], T | None], what: str, timeout: float = EVENTUALLY) -> T:
    """Call `probe` until it returns something other than None/False."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (AssertionError, KeyError, ValueError, httpx.HTTPError) as error:
            result, last = None, error
        if result is not None and result is not False:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f}s: {what} (last: {last})")


def poll(fetch: Callable[[], T], accept: Callable[[T], bool], what: str) -> T:
    """Fetch until `accept` likes the result."""

    def probe() -> T | None:
        result = fetch()
        assert accept(result), f"got {result!r}"[:500]
        return result

    return eventually(probe, what)


@dataclass
class User:
    email: str
    display_name: str
    id: str = ""
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Scenario:
    base_url: str
    shape: Shape
    #: Billing's period close, run by the operator with a moment (`2026-12-01T00:00:00`):
    #: the only way the scenario moves billing's clock.
    close_billing_period: Callable[[str], None]
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.base_url, timeout=10.0)
        run = uuid.uuid4().hex[:8]
        self.alice = User(f"alice-{run}@example.com", "Alice")
        self.bob = User(f"bob-{run}@example.com", "Bob")
        self.carol = User(f"carol-{run}@example.com", "Carol")

    def get(self, path: str, user: User, **options: Any) -> httpx.Response:
        return self.http.get(path, headers=user.headers, **options)

    def post(self, path: str, user: User, body: Any) -> httpx.Response:
        return self.http.post(path, json=body, headers=user.headers)

    def run(self) -> None:
        try:
            self.index_names_the_api()
            self.schema_describes_every_module()
            self.status_shows_every_module_alive()
            self.people_register_and_log_in()
            project = self.alice_creates_a_project()
            self.alice_adds_bob_as_member(project)
            task = self.alice_assigns_bob_a_task(project)
            self.bob_is_notified_of_the_assignment(task)
            self.the_free_plan_limits_projects_until_upgraded()
            self.analytics_count_the_task(project)
            self.bobs_dashboard_composes_it_all()
            self.the_free_plan_limits_tasks_per_period()
        finally:
            self.http.close()

    # -- steps ---------------------------------------------------------------

    def index_names_the_api(self) -> None:
        response = self.http.get("/")

        assert response.status_code == 200, response.text
        assert response.json()["name"] == "CloudTaskHub"

    def schema_describes_every_module(self) -> None:
        response = self.http.get("/schema/openapi.json")

        assert response.status_code == 200, response.text
        document = response.json()
        described = {
            f"{method.upper()} {path}"
            for path, item in document["paths"].items()
            for method in item
            if method in {"get", "put", "post", "patch", "delete"}
        }
        for module in self.shape.modules:
            expected = {
                *PUBLIC_OPERATIONS[module],
                f"GET {ADMIN_PREFIXES[module]}/admin/dead-letters",
                f"GET {ADMIN_PREFIXES[module]}/admin/events",
            }
            assert expected <= described, f"{module}: {sorted(expected - described)} not described"
        assert "BearerToken" in document["components"]["securitySchemes"]
        ui = self.http.get("/schema")
        assert ui.status_code == 200
        assert ui.headers["content-type"].startswith("text/html")
        # The UI embeds the document it shows: the whole API too.
        assert all(f'"{path}"' in ui.text for path in ("/api/v1/auth/login", "/api/v1/billing/plans"))

    def status_shows_every_module_alive(self) -> None:
        # Polled as a whole: after a deploy, the processes it replaced stay "alive" on the
        # status page until they miss their heartbeats.
        def settled() -> dict[str, Any] | None:
            status: dict[str, Any] = self.http.get("/api/v1/status").json()
            alive = [m for m in status["modules"] if m["alive"]]
            assert sorted({m["module"] for m in alive}) == sorted(self.shape.modules), f"alive: {alive}"
            processes = {m["process"] for m in alive}
            assert {m["bus"] for m in alive} == {self.shape.bus}
            assert len(processes) == self.shape.expected_processes, f"processes: {sorted(processes)}"
            if self.shape.split:
                assert status["mode"] == "split"
                assert all(len({m["module"] for m in alive if m["process"] == p}) == 1 for p in processes)
            else:
                assert status["mode"] == "all-in-one"
            return status

        eventually(settled, "every module's heartbeat in /api/v1/status", timeout=60)

    def people_register_and_log_in(self) -> None:
        for user in (self.alice, self.bob, self.carol):
            body = {"email": user.email, "password": PASSWORD, "display_name": user.display_name}
            created = self.http.post("/api/v1/auth/register", json=body)
            assert created.status_code == 201, created.text
            user.id = created.json()["id"]
            login = self.http.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
            assert login.status_code == 200, login.text
            user.token = login.json()["access_token"]

        again = self.http.post(
            "/api/v1/auth/register",
            json={"email": self.alice.email.upper(), "password": PASSWORD, "display_name": "Twin"},
        )
        me = self.http.get("/api/v1/auth/me", headers=self.bob.headers)
        anonymous = self.http.get("/api/v1/auth/me")

        assert again.status_code == 409
        assert again.headers["content-type"].startswith(PROBLEM_JSON)
        assert me.json()["email"] == self.bob.email
        assert anonymous.status_code == 401

    def alice_creates_a_project(self) -> str:
        created = self.http.post(
            "/api/v1/projects",
            json={"name": "Apollo", "description": "to the moon"},
            headers=self.alice.headers,
        )
        assert created.status_code == 201, created.text
        project = created.json()
        listed = self.http.get("/api/v1/projects", headers=self.alice.headers).json()
        hidden = self.http.get(f"/api/v1/projects/{project['id']}", headers=self.bob.headers)

        assert project["owner_id"] == self.alice.id
        assert [p["id"] for p in listed["items"]] == [project["id"]]
        assert hidden.status_code == 404
        return str(project["id"])

    def alice_adds_bob_as_member(self, project: str) -> None:
        # The project module learns about Bob from auth's user_registered event.
        def add() -> httpx.Response | None:
            response = self.http.post(
                f"/api/v1/projects/{project}/members",
                json={"email": self.bob.email, "role": "member"},
                headers=self.alice.headers,
            )
            return response if response.status_code != 404 else None

        added = eventually(add, "the project module to know Bob")
        members = self.http.get(f"/api/v1/projects/{project}/members", headers=self.bob.headers)

        assert added.status_code == 201, added.text
        assert members.status_code == 200, members.text
        assert {m["user_id"] for m in members.json()["items"]} == {self.alice.id, self.bob.id}

    def alice_assigns_bob_a_task(self, project: str) -> str:
        created = self.http.post(
            f"/api/v1/projects/{project}/tasks",
            json={"title": "Build the rocket", "priority": "high", "assignee_id": self.bob.id},
            headers=self.alice.headers,
        )
        assert created.status_code == 201, created.text
        task = created.json()
        mine = self.http.get(
            f"/api/v1/projects/{project}/tasks", params={"assignee_id": self.bob.id}, headers=self.bob.headers
        )

        assert task["assignee_id"] == self.bob.id
        assert task["status"] == "todo"
        assert [t["id"] for t in mine.json()["items"]] == [task["id"]]
        return str(task["id"])

    def bob_is_notified_of_the_assignment(self, task: str) -> None:
        def notified() -> dict[str, Any] | None:
            page = self.http.get("/api/v1/notifications", headers=self.bob.headers).json()
            return next((n for n in page["items"] if n["subject_id"] == task), None)

        notification = eventually(notified, "Bob's notification about the task")

        assert notification["read_at"] is None

    def the_free_plan_limits_projects_until_upgraded(self) -> None:
        subscription = self.get("/api/v1/billing/subscription", self.alice)
        assert subscription.status_code == 200, subscription.text
        assert subscription.json()["plan"] == "free"
        limit = subscription.json()["limits"]["projects"]
        for n in range(2, limit + 1):  # Alice owns one project already
            made = self.post("/api/v1/projects", self.alice, {"name": f"Project {n}"})
            assert made.status_code == 201, made.text

        refused = self.post("/api/v1/projects", self.alice, {"name": "One too many"})

        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
        assert refused.json()["type"].endswith("quota-exceeded")
        usage = poll(
            lambda: self.get("/api/v1/billing/usage", self.alice).json(),
            lambda u: u["projects"] == limit,
            "billing to count Alice's projects",
        )
        assert usage["limits"]["projects"] == limit

        upgraded = self.http.put(
            "/api/v1/billing/subscription", json={"plan": "pro"}, headers=self.alice.headers
        )
        assert upgraded.status_code == 200, upgraded.text
        # The project module applies the new limits when billing's subscription_changed arrives.
        allowed = poll(
            lambda: self.post("/api/v1/projects", self.alice, {"name": "Upgraded"}),
            lambda r: r.status_code == 201,
            "the pro plan's limits to reach the project module",
        )
        invoices = self.get("/api/v1/billing/invoices", self.alice).json()

        assert allowed.json()["name"] == "Upgraded"
        assert [i["plan"] for i in invoices["items"]] == ["pro"]

    def analytics_count_the_task(self, project: str) -> None:
        summary = poll(
            lambda: self.get(f"/api/v1/analytics/projects/{project}/summary", self.alice),
            lambda s: s.status_code == 200 and s.json()["tasks_by_status"].get("todo") == 1,
            "the project summary to count the task",
        )
        mine = poll(
            lambda: self.get("/api/v1/analytics/me", self.bob).json(),
            lambda m: m["tasks_assigned_open"] == 1,
            "Bob's activity to show the open task",
        )

        assert summary.json()["overdue"] == 0
        assert mine["projects"] == 1

    def bobs_dashboard_composes_it_all(self) -> None:
        def composed() -> dict[str, Any] | None:
            board = self.http.get("/api/v1/dashboard", headers=self.bob.headers).json()
            ready = board.get("open_tasks_assigned") == 1 and board.get("unread_notifications", 0) >= 1
            return board if ready else None

        board = eventually(composed, "Bob's dashboard to show the task and the notification")

        assert board["plan"] == "free"

    def the_free_plan_limits_tasks_per_period(self) -> None:
        """Carol's 101st task this period is refused until she upgrades, or until billing
        closes the period; deleting a task gives nothing back."""
        subscription = self.get("/api/v1/billing/subscription", self.carol).json()
        limit = subscription["limits"]["tasks_per_month"]
        project = self.post("/api/v1/projects", self.carol, {"name": "Busy"}).json()["id"]
        tasks = f"/api/v1/projects/{project}/tasks"
        created = [self.post(tasks, self.carol, {"title": f"Task {n}"}) for n in range(limit)]
        assert {r.status_code for r in created} == {201}, created[-1].text
        deleted = self.http.delete(f"/api/v1/tasks/{created[0].json()['id']}", headers=self.carol.headers)
        assert deleted.status_code == 204, deleted.text

        refused = self.post(tasks, self.carol, {"title": "One too many"})

        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"].startswith(PROBLEM_JSON)
        problem = refused.json()
        assert problem["type"].endswith("quota-exceeded")
        assert (problem["limit"], problem["plan"]) == (limit, "free")
        assert problem["period_end"] == subscription["current_period_end"]
        assert len(
            self.http.get(tasks, params={"limit": 100}, headers=self.carol.headers).json()["items"]
        ) == (limit - 1)

        self.change_plan(self.carol, "pro")
        poll(
            lambda: self.post(tasks, self.carol, {"title": "Upgraded"}),
            lambda r: r.status_code == 201,
            "the pro plan's task limit to reach the project module",
        )
        self.change_plan(self.carol, "free")
        poll(
            lambda: self.post(tasks, self.carol, {"title": "Downgraded"}),
            lambda r: r.status_code == 403,
            "the free plan's task limit to apply again",
        )

        self.close_billing_period(subscription["current_period_end"].removesuffix("Z"))

        renewed = poll(
            lambda: self.post(tasks, self.carol, {"title": "Next month"}),
            lambda r: r.status_code == 201,
            "billing's new period to restart the count in the project module",
        )
        after = self.get("/api/v1/billing/subscription", self.carol).json()
        assert after["current_period_start"] == subscription["current_period_end"]
        assert renewed.json()["title"] == "Next month"

    def change_plan(self, user: User, plan: str) -> None:
        changed = self.http.put("/api/v1/billing/subscription", json={"plan": plan}, headers=user.headers)
        assert changed.status_code == 200, changed.text
