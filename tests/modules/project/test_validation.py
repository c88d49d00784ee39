"""Bad input answers 422 naming the field (malformed JSON 400), never 500."""

from __future__ import annotations

import pytest

from cloudtaskhub.http.pagination import encode_cursor
from tests.modules.project.factories import API, create_task

LONG = "x" * 201

TASK_BODIES = [
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": LONG}, "title"),
    ({}, "title"),
    ({"title": 7}, "title"),
    ({"title": "t", "priority": "critical"}, "priority"),
    ({"title": "t", "due_date": "2026-02-30"}, "due_date"),
    ({"title": "t", "due_date": "tomorrow"}, "due_date"),
    ({"title": "t", "assignee_id": "not-a-uuid"}, "assignee_id"),
    ({"title": "t", "labels": [f"l{i}" for i in range(21)]}, "labels"),
    ({"title": "t", "labels": [""]}, "labels[0]"),
    ({"title": "t", "labels": ["ok", "x" * 51]}, "labels[1]"),
    ({"title": "t", "labels": "ops"}, "labels"),
]


@pytest.mark.parametrize(("body", "field"), TASK_BODIES)
async def test_a_bad_task_field_answers_422_naming_it(harness, alice, apollo, body, field):  # type: ignore[no-untyped-def]
    response = await harness.post(f"{API}/projects/{apollo['id']}/tasks", json=body, user=alice)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["errors"][0]["field"] == field


TASK_CHANGES = [
    ({"status": "blocked"}, "status"),
    ({"status": None}, "status"),
    ({"title": None}, "title"),
    ({"title": LONG}, "title"),
    ({"priority": "p0"}, "priority"),
    ({"due_date": "01/02/2027"}, "due_date"),
    ({"assignee_id": "42"}, "assignee_id"),
    ({"labels": ["a"] * 21}, "labels"),
]


@pytest.mark.parametrize(("body", "field"), TASK_CHANGES)
async def test_a_bad_task_change_answers_422_naming_it(harness, alice, apollo, body, field):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo)

    response = await harness.patch(f"{API}/tasks/{task['id']}", json=body, user=alice)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/projects", {"name": ""}, "name"),
        ("/projects", {"name": LONG}, "name"),
        ("/projects", {"description": "no name"}, "name"),
        ("/projects/{p}/members", {"email": "not-an-email"}, "email"),
        ("/projects/{p}/members", {"email": "bob@example.com", "role": "owner"}, "role"),
    ],
)
async def test_a_bad_project_or_member_field_answers_422_naming_it(harness, alice, apollo, path, body, field):  # type: ignore[no-untyped-def]
    response = await harness.post(API + path.format(p=apollo["id"]), json=body, user=alice)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize(
    "query",
    [
        "status=blocked",
        "priority=p0",
        "assignee_id=nope",
        "sort=title",
        "limit=0",
        "limit=101",
        "cursor=%%%",
        "label=",
    ],
)
async def test_a_bad_list_parameter_answers_422(harness, alice, apollo, query):  # type: ignore[no-untyped-def]
    response = await harness.get(f"{API}/projects/{apollo['id']}/tasks?{query}", user=alice)

    assert response.status_code == 422, response.text


async def test_malformed_json_answers_400(harness, alice, apollo):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects/{apollo['id']}/tasks",
        content=b'{"title": "x",',
        headers={"Content-Type": "application/json"},
        user=alice,
    )

    assert response.status_code == 400


async def test_a_bad_if_match_answers_422(harness, alice, apollo):  # type: ignore[no-untyped-def]
    response = await harness.patch(
        f"{API}/projects/{apollo['id']}", json={"name": "x"}, headers={"If-Match": "banana"}, user=alice
    )

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/tasks/not-a-uuid", None),
        ("PATCH", "/tasks/00000000-0000-0000-0000-000000000000", {"title": "x"}),
        ("POST", "/projects/{p}/tasks", [1, 2]),
        ("POST", "/projects/{p}/tasks", {"title": "\u0000\U0001f600" * 50}),
        ("POST", "/projects/{p}/tasks", {"title": "t", "labels": [None]}),
        ("POST", "/projects/{p}/tasks", {"title": "t", "due_date": "9999-12-31", "description": "é" * 9000}),
        ("POST", "/projects/{p}/members", {"email": None}),
        ("PATCH", "/projects/{p}", "just a string"),
        ("GET", "/projects/{p}/tasks?q=%25%5C_%00", None),
        ("GET", "/projects/{p}/tasks?cursor=WyJ0YXNrczpjcmVhdGVkX2F0IiwxLDJd", None),
        ("DELETE", "/projects/{p}/members/not-a-uuid", None),
    ],
)
async def test_no_input_answers_500(harness, alice, apollo, method, path, body):  # type: ignore[no-untyped-def]
    kwargs = {} if body is None else {"json": body}

    response = await harness.request(method, API + path.format(p=apollo["id"]), user=alice, **kwargs)

    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        (
            "/projects/{p}/tasks",
            ["tasks:created_at", "2026-01-01T00:00:00", "00000000-0000-0000-0000-000000000000"],
        ),
        (
            "/projects/{p}/tasks?sort=priority",
            ["tasks:priority", 10**30, "00000000-0000-0000-0000-000000000000"],
        ),
        ("/projects/{p}/tasks?sort=due_date", ["tasks:due_date", "2026-99-01", "x"]),
        ("/projects/{p}/tasks?sort=due_date", ["tasks:due_date", 5, None]),
        ("/projects", ["projects", None, None]),
        ("/projects/{p}/members", ["members", "yesterday", 1]),
        ("/projects/{p}/members", {"a": 1}),
    ],
)
async def test_a_forged_cursor_answers_422(harness, alice, apollo, path, cursor):  # type: ignore[no-untyped-def]
    separator = "&" if "?" in path else "?"

    response = await harness.get(
        API + path.format(p=apollo["id"]) + f"{separator}cursor={encode_cursor(cursor)}", user=alice
    )

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "cursor"
