"""Malformed input answers 4xx problem+json, never a 500 (review finding 5)."""

from __future__ import annotations

import pytest

from cloudtaskhub.http.pagination import encode_cursor
from tests.modules.project.factories import API

PROBLEM = "application/problem+json"


@pytest.mark.parametrize("if_match", ['"²"', '"¹²³"', '"' + "9" * 5000 + '"', '"' + "9" * 19 + '"'])
async def test_a_malformed_if_match_answers_422(harness, alice, apollo, if_match):  # type: ignore[no-untyped-def]
    response = await harness.patch(
        f"{API}/projects/{apollo['id']}",
        json={"name": "Artemis"},
        headers={"If-Match": if_match.encode("latin-1")},
        user=alice,
    )

    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in response.json()["errors"]] == ["If-Match"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
@pytest.mark.parametrize("listing", ["projects", "members"])
async def test_a_cursor_with_an_out_of_range_offset_answers_422(harness, alice, apollo, moment, listing):  # type: ignore[no-untyped-def]
    cursor = encode_cursor([listing, moment, apollo["id"]])
    path = f"{API}/projects" if listing == "projects" else f"{API}/projects/{apollo['id']}/members"

    response = await harness.get(path, params={"cursor": cursor}, user=alice)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    assert [e["field"] for e in response.json()["errors"]] == ["cursor"]


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
async def test_json_nested_too_deep_answers_400(harness, alice, depth):  # type: ignore[no-untyped-def]
    body = b'{"name": ' + b"[" * depth + b"]" * depth + b"}"

    response = await harness.post(
        f"{API}/projects", content=body, headers={"content-type": "application/json"}, user=alice
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "nested deeper" in response.json()["detail"]


async def test_brackets_inside_strings_do_not_count_as_nesting(harness, alice):  # type: ignore[no-untyped-def]
    response = await harness.post(
        f"{API}/projects", json={"name": "[" * 60, "description": '{"' * 40}, user=alice
    )

    assert response.status_code == 201
