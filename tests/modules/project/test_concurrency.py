"""Two writers of one version, released together: one wins, the other answers 412
and changed nothing. On PostgreSQL the gate makes both read before either writes,
so the loser meets the optimistic lock (StaleDataError) rather than the If-Match
check; SQLite queues writers, so there the loser meets the If-Match check."""

from __future__ import annotations

from typing import Any

from modules.project.contracts import TaskDeleted, TaskStatusChanged
from tests.modules.project.factories import API, create_task

IF_MATCH_1 = {"If-Match": '"1"'}


def _by_status(answers: list[Any]) -> list[Any]:
    return sorted(answers, key=lambda r: r.status_code)


async def test_two_renames_of_one_version_one_wins_the_other_answers_412(harness, alice, apollo):  # type: ignore[no-untyped-def]
    path = f"{API}/projects/{apollo['id']}"
    published = len(harness.bus.published)

    async with harness.writers_meet("project", "project_projects") as gate:
        answers = await harness.race(
            ("PATCH", path, {"json": {"name": "Artemis"}, "headers": IF_MATCH_1, "user": alice}),
            ("PATCH", path, {"json": {"name": "Orion"}, "headers": IF_MATCH_1, "user": alice}),
        )

    assert gate.met
    winner, loser = _by_status(answers)
    assert (winner.status_code, loser.status_code) == (200, 412), loser.text
    assert loser.headers["content-type"] == "application/problem+json"
    current = (await harness.get(path, user=alice)).json()
    assert (current["name"], current["version"]) == (winner.json()["name"], 2)
    assert len(harness.bus.published) == published  # a rename publishes nothing, the loser neither


async def test_two_changes_of_one_task_version_one_wins_the_other_answers_412(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo)
    path = f"{API}/tasks/{task['id']}"
    published = len(harness.bus.published)

    async with harness.writers_meet("project", "project_tasks") as gate:
        answers = await harness.race(
            ("PATCH", path, {"json": {"status": "in_progress"}, "headers": IF_MATCH_1, "user": alice}),
            (
                "PATCH",
                path,
                {"json": {"status": "done", "title": "Lost"}, "headers": IF_MATCH_1, "user": alice},
            ),
        )

    assert gate.met
    winner, loser = _by_status(answers)
    assert (winner.status_code, loser.status_code) == (200, 412), loser.text
    assert loser.headers["content-type"] == "application/problem+json"
    assert (await harness.get(path, user=alice)).json() == winner.json()
    assert winner.json()["version"] == 2
    changes = [e.type for e in harness.bus.published[published:]]
    assert changes == [TaskStatusChanged.__event_type__]
    assert [e.new for e in harness.published(TaskStatusChanged)] == [winner.json()["status"]]


async def test_two_deletes_of_one_task_version_delete_it_once(harness, alice, apollo):  # type: ignore[no-untyped-def]
    task = await create_task(harness, alice, apollo)
    path = f"{API}/tasks/{task['id']}"

    async with harness.writers_meet("project", "project_tasks") as gate:
        answers = await harness.race(
            ("DELETE", path, {"headers": IF_MATCH_1, "user": alice}),
            ("DELETE", path, {"headers": IF_MATCH_1, "user": alice}),
        )

    assert gate.met
    winner, loser = _by_status(answers)
    # PostgreSQL: both read version 1, so the loser's delete meets the lock (412);
    # SQLite: the loser reads after the winner committed and finds no task (404).
    assert (winner.status_code, loser.status_code) == (204, 412 if gate.writers else 404), loser.text
    assert loser.headers["content-type"] == "application/problem+json"
    assert [str(e.task_id) for e in harness.published(TaskDeleted)] == [task["id"]]
    assert (await harness.get(path, user=alice)).status_code == 404
