"""Tasks written before a task's labels had a column of their own keep them, in the
client's order, once the app migrates (`CTH_DB_BOOTSTRAP=migrate`)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from cloudtaskhub.clock import new_id
from cloudtaskhub.db.migrations import upgrade
from cloudtaskhub.testing import ModuleHarness
from modules.project import module as project
from modules.project.models import MemberModel, ProjectModel, TaskLabelModel, TaskModel
from tests.modules.project.factories import API

#: The project module's revision before `labels_json`.
BEFORE = "b7d3e2a91c40"  # pragma: allowlist secret
MOMENT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _tasks_written_before(database_url: str, owner: UUID, labels: list[list[str]]) -> UUID:
    """A project of `owner` with one task per entry of `labels`, written as the old schema holds them."""
    engine = create_async_engine(database_url)
    try:
        await upgrade(project, engine, BEFORE)
        project_id = new_id()
        async with engine.begin() as connection:
            await connection.execute(
                insert(ProjectModel.__table__),
                {"id": project_id, "name": "Old", "owner_id": owner, "created_at": MOMENT}
                | {"updated_at": MOMENT, "version": 1},
            )
            await connection.execute(
                insert(MemberModel.__table__),
                {"project_id": project_id, "user_id": owner, "role": "owner", "added_at": MOMENT},
            )
            for i, task_labels in enumerate(labels):
                task_id = new_id()
                tasks = TaskModel.__table__
                # Only the columns the old schema has: `labels_json` is not written.
                await connection.execute(
                    insert(tasks).values(
                        id=task_id,
                        project_id=project_id,
                        title=f"task {i}",
                        status="todo",
                        priority="medium",
                        priority_rank=2,
                        creator_id=owner,
                        created_at=MOMENT.replace(minute=i),
                        updated_at=MOMENT,
                        version=1,
                    )
                )
                if task_labels:
                    await connection.execute(
                        insert(TaskLabelModel.__table__),
                        # Rows in reverse: the order is the position's, not the rows'.
                        [
                            {"task_id": task_id, "label": label, "position": position}
                            for position, label in reversed(list(enumerate(task_labels)))
                        ],
                    )
        return project_id
    finally:
        await engine.dispose()


async def test_tasks_written_before_keep_their_labels_in_order(database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    owner = new_id()
    labels = [["zeta", "alpha", "Mitte", "été"], [], ["only"]]
    project_id = await _tasks_written_before(database_url, owner, labels)

    async with ModuleHarness(
        [project], database_url=database_url, data_dir=str(tmp_path), db_bootstrap="migrate"
    ) as harness:
        alice = harness.user("alice@example.com", user_id=owner)
        page = await harness.get(f"{API}/projects/{project_id}/tasks", user=alice)
        one = await harness.get(f"{API}/tasks/{page.json()['items'][0]['id']}", user=alice)
        by_label = await harness.get(f"{API}/projects/{project_id}/tasks?label=alpha", user=alice)
        changed = await harness.patch(
            f"{API}/tasks/{page.json()['items'][2]['id']}", json={"labels": ["only", "new"]}, user=alice
        )
        after = await harness.get(f"{API}/projects/{project_id}/tasks", user=alice)

    assert page.status_code == 200, page.text
    assert [task["labels"] for task in page.json()["items"]] == labels
    assert one.json()["labels"] == labels[0]
    assert [task["title"] for task in by_label.json()["items"]] == ["task 0"]
    assert changed.status_code == 200, changed.text
    assert [task["labels"] for task in after.json()["items"]] == [*labels[:2], ["only", "new"]]
