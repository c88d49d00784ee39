"""The task list: filters, sort orders and keyset pagination."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from modules.project.service import TaskDraft, provide_task_service
from tests.modules.project.factories import API, add_member, create_task, subscribe


async def titles(harness, user, project, query: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    response = await harness.get(f"{API}/projects/{project['id']}/tasks?limit=100&{query}", user=user)
    assert response.status_code == 200, response.text
    return [t["title"] for t in response.json()["items"]]


async def test_filters_by_status_priority_assignee_and_label(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    await create_task(harness, alice, apollo, title="A", priority="high", labels=["ops"])
    b = await create_task(harness, alice, apollo, title="B", assignee_id=str(bob.id), labels=["dev", "ops"])
    await create_task(harness, alice, apollo, title="C", priority="high")
    await harness.patch(f"{API}/tasks/{b['id']}", json={"status": "done"}, user=bob)

    assert await titles(harness, bob, apollo, "status=done") == ["B"]
    assert await titles(harness, bob, apollo, "priority=high") == ["A", "C"]
    assert await titles(harness, bob, apollo, f"assignee_id={bob.id}") == ["B"]
    assert await titles(harness, bob, apollo, "label=ops") == ["A", "B"]
    assert await titles(harness, bob, apollo, "label=ops&priority=high") == ["A"]


async def test_q_searches_titles_case_insensitively(harness, alice, apollo):  # type: ignore[no-untyped-def]
    for title in ("Fix LOGIN bug", "login page", "Logout"):
        await create_task(harness, alice, apollo, title=title)

    assert await titles(harness, alice, apollo, "q=Login") == ["Fix LOGIN bug", "login page"]


async def test_q_matches_like_wildcards_literally(harness, alice, apollo):  # type: ignore[no-untyped-def]
    for title in ("100% done", "1000 done", "a_b", "axb", "back\\slash"):
        await create_task(harness, alice, apollo, title=title)

    assert await titles(harness, alice, apollo, "q=0%25") == ["100% done"]
    assert await titles(harness, alice, apollo, "q=a_") == ["a_b"]
    assert await titles(harness, alice, apollo, "q=k%5Cs") == ["back\\slash"]


async def test_sort_orders(harness, alice, apollo):  # type: ignore[no-untyped-def]
    await create_task(harness, alice, apollo, title="low-late", priority="low", due_date="2027-03-01")
    await create_task(harness, alice, apollo, title="urgent-none", priority="urgent")
    await create_task(harness, alice, apollo, title="medium-early", priority="medium", due_date="2027-01-01")
    await create_task(harness, alice, apollo, title="high-none", priority="high")

    assert await titles(harness, alice, apollo, "sort=created_at") == [
        "low-late",
        "urgent-none",
        "medium-early",
        "high-none",
    ]
    assert await titles(harness, alice, apollo, "sort=-created_at") == [
        "high-none",
        "medium-early",
        "urgent-none",
        "low-late",
    ]
    assert await titles(harness, alice, apollo, "sort=due_date") == [
        "medium-early",
        "low-late",
        "urgent-none",
        "high-none",
    ]
    assert await titles(harness, alice, apollo, "sort=priority") == [
        "urgent-none",
        "high-none",
        "medium-early",
        "low-late",
    ]


async def test_a_cursor_from_another_sort_answers_422(harness, alice, apollo):  # type: ignore[no-untyped-def]
    for _ in range(3):
        await create_task(harness, alice, apollo)
    cursor = (await harness.get(f"{API}/projects/{apollo['id']}/tasks?limit=1", user=alice)).json()[
        "next_cursor"
    ]

    response = await harness.get(
        f"{API}/projects/{apollo['id']}/tasks?sort=priority&cursor={cursor}", user=alice
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "cursor"


def random_draft(rng: random.Random, title: str) -> TaskDraft:
    due = None if rng.random() < 0.3 else date(2027, 1, 1) + timedelta(days=rng.randrange(20))
    return TaskDraft(title=title, priority=rng.choice(["low", "medium", "high", "urgent"]), due_date=due)


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "due_date", "priority"])
async def test_paging_while_tasks_are_inserted_returns_each_original_task_once(harness, alice, apollo, sort):  # type: ignore[no-untyped-def]
    await subscribe(harness, alice, "pro", projects=20)  # over 250 tasks: more than the free plan's month
    rng = random.Random(sort)
    tasks = provide_task_service(harness.runtime.module("project"))
    original = set()
    for i in range(250):
        original.add(str((await tasks.create_task(alice.id, apollo["id"], random_draft(rng, f"t{i}"))).id))
        harness.clock.advance(timedelta(milliseconds=rng.choice([0, 0, 1])))  # ties on created_at too

    seen: list[str] = []
    cursor = None
    while True:
        query = f"limit=7&sort={sort}" + (f"&cursor={cursor}" if cursor else "")
        page = (await harness.get(f"{API}/projects/{apollo['id']}/tasks?{query}", user=alice)).json()
        seen.extend(t["id"] for t in page["items"])
        for _ in range(2):  # new tasks land before and after the cursor
            await tasks.create_task(alice.id, apollo["id"], random_draft(rng, "new"))
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen)), "a task was returned twice"
    assert original <= set(seen), "a task that existed at the start was skipped"


async def test_a_task_in_the_list_reads_exactly_as_the_task_itself(harness, alice, bob, apollo):  # type: ignore[no-untyped-def]
    await add_member(harness, alice, apollo, bob)
    plain = await create_task(harness, alice, apollo, title="Plain")
    harness.clock.advance(timedelta(seconds=1, microseconds=7))
    rich = await create_task(
        harness,
        alice,
        apollo,
        title='Quote " backslash \\ tab\tété 東京 😀',
        description="line one\nline two",
        priority="urgent",
        due_date="2027-02-28",
        assignee_id=str(bob.id),
        labels=["zéro", 'a "b"', "c\\d"],
    )
    harness.clock.advance(timedelta(minutes=3))
    changed = await harness.patch(f"{API}/tasks/{plain['id']}", json={"status": "in_progress"}, user=alice)
    assert changed.status_code == 200, changed.text

    listed = await harness.get(f"{API}/projects/{apollo['id']}/tasks", user=bob)
    one_by_one = [(await harness.get(f"{API}/tasks/{t['id']}", user=bob)).json() for t in (plain, rich)]

    assert listed.status_code == 200, listed.text
    assert listed.json()["items"] == one_by_one
    assert one_by_one[1]["title"] == 'Quote " backslash \\ tab\tété 東京 😀'
    assert one_by_one[1]["labels"] == ["zéro", 'a "b"', "c\\d"]
