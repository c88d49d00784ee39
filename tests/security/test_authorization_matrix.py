"""Authorization across every module, and hostile input in every filter and body.

Alice owns a project, a task, notifications, a webhook, an invoice and analytics.
Mallory (a stranger) tries every read and write on them: each answers 404 (or 403
where the resource is visible but the action is not hers) and nothing changes.
Then every list filter, cursor and body field gets SQL-ish, forged and oversized
values: a 4xx problem+json or a plain result, never a 5xx.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.security.conftest import Server

PROBLEM_JSON = "application/problem+json"
MODULE_ADMIN = [
    "/api/v1/auth/admin",
    "/api/v1/projects/admin",
    "/api/v1/billing/admin",
    "/api/v1/notifications/admin",
    "/api/v1/analytics/admin",
]


@dataclass
class Estate:
    """Everything Alice owns, by id."""

    alice: dict[str, str]
    carol: dict[str, str]  # a plain member of Alice's project
    mallory: dict[str, str]
    alice_id: str
    carol_id: str
    project: str
    task: str
    notification: str
    webhook: str
    invoice: str


def _eventually(fetch: Any, what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = fetch()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


@pytest.fixture(scope="module")
def estate(server: Server) -> Estate:
    alice = server.register_and_login("alice-matrix@example.com")
    carol = server.register_and_login("carol-matrix@example.com")
    mallory = server.register_and_login("mallory-matrix@example.com")
    with server.client() as http:
        alice_id = http.get("/api/v1/auth/me", headers=alice).json()["id"]
        carol_id = http.get("/api/v1/auth/me", headers=carol).json()["id"]
        project = http.post("/api/v1/projects", json={"name": "Secret"}, headers=alice).json()["id"]
        _eventually(
            lambda: (
                http.post(
                    f"/api/v1/projects/{project}/members",
                    json={"email": "carol-matrix@example.com", "role": "member"},
                    headers=alice,
                ).status_code
                == 201
            ),
            "the project module to know Carol",
        )
        task = http.post(
            f"/api/v1/projects/{project}/tasks",
            json={"title": "Classified", "assignee_id": carol_id, "labels": ["x"]},
            headers=alice,
        ).json()["id"]
        assert (
            http.put("/api/v1/billing/subscription", json={"plan": "pro"}, headers=alice).status_code == 200
        )
        invoice = _eventually(
            lambda: http.get("/api/v1/billing/invoices", headers=alice).json()["items"], "Alice's invoice"
        )[0]["id"]
        notification = _eventually(
            lambda: http.get("/api/v1/notifications", headers=alice).json()["items"], "Alice's notification"
        )[0]["id"]
        hook = http.post(
            "/api/v1/notifications/webhooks",
            json={"url": "https://93.184.215.14/alice", "event_types": ["task_assigned"]},
            headers=alice,
        )
        assert hook.status_code == 201, hook.text
        webhook = hook.json()["id"]
    return Estate(alice, carol, mallory, alice_id, carol_id, project, task, notification, webhook, invoice)


def _requests(e: Estate) -> list[tuple[str, str, Any]]:
    """Every read and write on Alice's things: (method, path, json body)."""
    p, t = e.project, e.task
    return [
        ("GET", f"/api/v1/projects/{p}", None),
        ("PATCH", f"/api/v1/projects/{p}", {"name": "Pwned"}),
        ("DELETE", f"/api/v1/projects/{p}", None),
        ("GET", f"/api/v1/projects/{p}/members", None),
        ("POST", f"/api/v1/projects/{p}/members", {"email": "mallory-matrix@example.com", "role": "admin"}),
        ("DELETE", f"/api/v1/projects/{p}/members/{e.carol_id}", None),
        ("GET", f"/api/v1/projects/{p}/tasks", None),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": "Planted"}),
        ("GET", f"/api/v1/tasks/{t}", None),
        ("PATCH", f"/api/v1/tasks/{t}", {"status": "done"}),
        ("DELETE", f"/api/v1/tasks/{t}", None),
        ("POST", f"/api/v1/notifications/{e.notification}/read", None),
        ("DELETE", f"/api/v1/notifications/webhooks/{e.webhook}", None),
        ("GET", f"/api/v1/notifications/webhooks/{e.webhook}/deliveries", None),
        ("GET", f"/api/v1/billing/invoices/{e.invoice}", None),
        ("GET", f"/api/v1/analytics/projects/{p}/summary", None),
    ]


def _call(http: httpx.Client, method: str, path: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    return http.request(method, path, json=body, headers=headers)


def test_a_stranger_gets_404_for_every_read_and_write_of_someone_elses_things(
    server: Server, estate: Estate
) -> None:
    with server.client() as http:
        answers = {
            f"{m} {path}": _call(http, m, path, body, estate.mallory) for m, path, body in _requests(estate)
        }

    statuses = {request: response.status_code for request, response in answers.items()}
    print(f"stranger: {len(statuses)} requests, answers {sorted(set(statuses.values()))}")
    assert {r: s for r, s in statuses.items() if s != 404} == {}
    assert all(r.headers["content-type"].startswith(PROBLEM_JSON) for r in answers.values())


def test_a_strangers_lists_never_show_someone_elses_things(server: Server, estate: Estate) -> None:
    with server.client() as http:
        pages = [
            http.get(path, headers=estate.mallory).json()
            for path in (
                "/api/v1/projects",
                "/api/v1/notifications",
                "/api/v1/notifications/webhooks",
                "/api/v1/billing/invoices",
            )
        ]
        dashboard = http.get("/api/v1/dashboard", headers=estate.mallory).json()
        me = http.get("/api/v1/analytics/me", headers=estate.mallory).json()

    assert [page["items"] for page in pages] == [[], [], [], []]
    assert dashboard["projects"] in (0, [])
    assert me["projects"] == 0


def test_a_plain_member_sees_the_project_but_may_not_run_it(server: Server, estate: Estate) -> None:
    p = estate.project
    with server.client() as http:
        visible = http.get(f"/api/v1/projects/{p}", headers=estate.carol).status_code
        delete = http.delete(f"/api/v1/projects/{p}", headers=estate.carol).status_code
        remove_owner = http.delete(f"/api/v1/projects/{p}/members/{estate.alice_id}", headers=estate.carol)
        invoice = http.get(f"/api/v1/billing/invoices/{estate.invoice}", headers=estate.carol).status_code
        read_hers = http.post(f"/api/v1/notifications/{estate.notification}/read", headers=estate.carol)

    assert visible == 200
    assert delete == 403
    assert remove_owner.status_code == 403, remove_owner.text
    assert invoice == 404
    assert read_hers.status_code == 404


def test_operations_and_overview_are_for_admins_only(server: Server, estate: Estate) -> None:
    with server.client() as http:
        statuses = {
            path: http.request(method, path, headers=estate.alice).status_code
            for base in MODULE_ADMIN
            for method, path in (
                ("GET", f"{base}/dead-letters"),
                ("POST", f"{base}/dead-letters/replay"),
                ("POST", f"{base}/dead-letters/{estate.task}/replay"),
                ("GET", f"{base}/events"),
            )
        }
        statuses["/api/v1/analytics/overview"] = http.get(
            "/api/v1/analytics/overview", headers=estate.alice
        ).status_code

    print(f"admin-only: {len(statuses)} requests by a non-admin, answers {sorted(set(statuses.values()))}")
    assert {path: s for path, s in statuses.items() if s != 403} == {}


def test_nothing_changed_after_the_attacks(server: Server, estate: Estate) -> None:
    with server.client() as http:
        for method, path, body in _requests(estate):
            _call(http, method, path, body, estate.mallory)
        project = http.get(f"/api/v1/projects/{estate.project}", headers=estate.alice)
        task = http.get(f"/api/v1/tasks/{estate.task}", headers=estate.alice)
        members = http.get(f"/api/v1/projects/{estate.project}/members", headers=estate.alice).json()
        tasks = http.get(f"/api/v1/projects/{estate.project}/tasks", headers=estate.alice).json()
        notification = next(
            n
            for n in http.get("/api/v1/notifications", headers=estate.alice).json()["items"]
            if n["id"] == estate.notification
        )
        webhooks = http.get("/api/v1/notifications/webhooks", headers=estate.alice).json()

    assert project.json()["name"] == "Secret"
    assert task.json()["status"] == "todo"
    assert {m["user_id"] for m in members["items"]} == {estate.alice_id, estate.carol_id}
    assert [t["title"] for t in tasks["items"]] == ["Classified"]
    assert notification["read_at"] is None
    assert [w["id"] for w in webhooks["items"]] == [estate.webhook]


# -- hostile input --------------------------------------------------------------------

SQLISH = [
    "' OR '1'='1",
    "'; DROP TABLE project_task; --",
    '" OR ""="',
    "%",
    "_",
    "\\",
    "%' UNION SELECT password_hash FROM auth_user --",
    "😀" * 20,
    "\u202e\u0000",
    "-1",
    "0",
    "99999999999999999999999999",
    "null",
    "[]",
    "{}",
    "true",
    "x" * 5000,
]


def _forged(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).rstrip(b"=").decode()


CURSORS = [
    "not-a-cursor",
    "!!!",
    "=" * 8,
    "A" * 511,
    "A" * 5000,
    _forged([]),
    _forged([1]),
    _forged(["x", "y", "z", "w"]),
    _forged([None, None]),
    _forged(["2026-01-01T00:00:00Z", "not-a-uuid"]),
    _forged([1e308, "00000000-0000-0000-0000-000000000000"]),
    _forged([{"a": 1}, [2]]),
    _forged(["' OR 1=1 --", "' OR 1=1 --"]),
    _forged({"x": 1}),
    _forged("just a string"),
    _forged([99999999999999999999999, -1]),
]
LIMITS = ["0", "-1", "101", "1e3", "abc", "99999999999999999999999", "", "1; DROP TABLE x"]


def _list_paths(e: Estate) -> list[str]:
    return [
        "/api/v1/projects",
        f"/api/v1/projects/{e.project}/members",
        f"/api/v1/projects/{e.project}/tasks",
        "/api/v1/notifications",
        "/api/v1/notifications/webhooks",
        f"/api/v1/notifications/webhooks/{e.webhook}/deliveries",
        "/api/v1/billing/invoices",
    ]


def _probe(
    http: httpx.Client, headers: dict[str, str], cases: list[tuple[str, str, Any, Any]]
) -> dict[str, str]:
    """Run (method, path, params, body) cases; return the ones that broke the rules."""
    broken: dict[str, str] = {}
    for method, path, params, body in cases:
        response = http.request(method, path, params=params, json=body, headers=headers)
        label = f"{method} {path} {json.dumps(params)[:80]} {json.dumps(body)[:80]}"
        if response.status_code >= 500:
            broken[label] = f"{response.status_code}: {response.text[:200]}"
        elif response.status_code >= 400 and not response.headers["content-type"].startswith(PROBLEM_JSON):
            broken[label] = f"{response.status_code} without problem+json"
    return broken


def test_hostile_filters_and_cursors_never_cause_a_server_error(server: Server, estate: Estate) -> None:
    tasks = f"/api/v1/projects/{estate.project}/tasks"
    cases: list[tuple[str, str, Any, Any]] = []
    for value in SQLISH:
        for name in ("q", "status", "label", "assignee_id", "priority", "sort", "cursor", "limit"):
            cases.append(("GET", tasks, {name: value}, None))
        cases.append(("GET", "/api/v1/notifications", {"unread": value}, None))
    for sort in ("created_at", "-created_at", "due_date", "priority"):
        for cursor in CURSORS:
            cases.append(("GET", tasks, {"sort": sort, "cursor": cursor}, None))
    for path in _list_paths(estate):
        for cursor in CURSORS:
            cases.append(("GET", path, {"cursor": cursor}, None))
        for limit in LIMITS:
            cases.append(("GET", path, {"limit": limit}, None))
    cases.append(("GET", "/api/v1/notifications", {"unread": "true", "cursor": CURSORS[9]}, None))

    with server.client() as http:
        broken = _probe(http, estate.alice, cases)

    print(f"hostile filters: {len(cases)} requests, {len(broken)} server errors or non-problem 4xx")
    for label, what in broken.items():
        print(f"  {label}: {what[:120]}")
    assert broken == {}


def test_sql_in_the_title_search_matches_nothing_and_leaks_nothing(server: Server, estate: Estate) -> None:
    tasks = f"/api/v1/projects/{estate.project}/tasks"
    with server.client() as http:
        results = [
            http.get(tasks, params={"q": value}, headers=estate.alice)
            for value in ("' OR '1'='1", "x' UNION SELECT 1 --", '" OR ""="')
        ]

    assert [r.status_code for r in results] == [200, 200, 200]
    assert [r.json()["items"] for r in results] == [[], [], []]


def test_hostile_and_oversized_bodies_are_refused_with_4xx(server: Server, estate: Estate) -> None:
    big, huge = "x" * 10_000, "y" * 900_000
    p, t = estate.project, estate.task
    bodies: list[tuple[str, str, Any]] = [
        ("POST", "/api/v1/projects", {"name": big}),
        ("POST", "/api/v1/projects", {"name": "ok", "description": huge}),
        ("PATCH", f"/api/v1/projects/{p}", {"name": None}),
        ("PATCH", f"/api/v1/projects/{p}", {"description": huge}),
        ("POST", f"/api/v1/projects/{p}/members", {"email": big + "@example.com", "role": "member"}),
        ("POST", f"/api/v1/projects/{p}/members", {"email": "' OR 1=1 --", "role": "owner"}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": big}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": "t", "labels": ["l"] * 10_000}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": "t", "labels": [big]}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": "t", "description": huge}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": "t", "due_date": "99999-12-31"}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": "t", "priority": "' OR 1=1"}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": "t", "assignee_id": "' OR 1=1"}),
        ("POST", f"/api/v1/projects/{p}/tasks", {"title": ["nested"], "labels": {"a": 1}}),
        ("PATCH", f"/api/v1/tasks/{t}", {"status": "'; DROP TABLE project_task; --"}),
        ("PATCH", f"/api/v1/tasks/{t}", {"labels": ["l"] * 10_000}),
        ("PATCH", f"/api/v1/tasks/{t}", {"title": "\u0000"}),
        (
            "POST",
            "/api/v1/notifications/webhooks",
            {"url": "https://e.example/" + big, "event_types": ["task_assigned"]},
        ),
        (
            "POST",
            "/api/v1/notifications/webhooks",
            {"url": "https://e.example/h", "event_types": ["task_assigned"] * 10_000},
        ),
        (
            "POST",
            "/api/v1/notifications/webhooks",
            {"url": "javascript:alert(1)", "event_types": ["task_assigned"]},
        ),
        (
            "POST",
            "/api/v1/notifications/webhooks",
            {"url": "http://169.254.169.254/latest", "event_types": ["task_assigned"]},
        ),
        ("PUT", "/api/v1/billing/subscription", {"plan": "' OR 1=1 --"}),
        ("PUT", "/api/v1/billing/subscription", {"plan": big}),
        ("POST", "/api/v1/auth/register", {"email": big, "password": huge, "display_name": big}),
        ("POST", "/api/v1/auth/login", {"email": "' OR 1=1 --", "password": huge}),
        ("POST", "/api/v1/auth/refresh", {"refresh_token": huge}),
    ]

    with server.client() as http:
        answers = {
            f"{m} {path} {json.dumps(body)[:60]}": http.request(m, path, json=body, headers=estate.alice)
            for m, path, body in bodies
        }

    statuses = {label: r.status_code for label, r in answers.items()}
    print(f"hostile bodies: {len(bodies)} requests, answers {sorted(set(statuses.values()))}")
    assert {label: s for label, s in statuses.items() if not 400 <= s < 500} == {}
    assert all(r.headers["content-type"].startswith(PROBLEM_JSON) for r in answers.values())
