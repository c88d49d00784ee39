"""Tasks written before a task's labels had a column of their own keep them, in the
client's order, once the app migrates (`CTH_DB_BOOTSTRAP=migrate`); and what an image from
before the column writes afterwards (a rollback) reads the same as what this one writes."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from cloudtaskhub.clock import new_id
from cloudtaskhub.db.migrations import upgrade, version_table
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
                await _write_the_old_way(connection, project_id, owner, f"task {i}", i, task_labels)
        return project_id
    finally:
        await engine.dispose()


async def _write_the_old_way(
    connection: AsyncConnection, project_id: UUID, owner: UUID, title: str, minute: int, labels: list[str]
) -> UUID:
    """A task as an image from before `labels_json` writes it: the label rows only."""
    task_id = new_id()
    await connection.execute(
        insert(TaskModel.__table__).values(
            id=task_id,
            project_id=project_id,
            title=title,
            status="todo",
            priority="medium",
            priority_rank=2,
            creator_id=owner,
            created_at=MOMENT.replace(minute=minute),
            updated_at=MOMENT,
            version=1,
        )
    )
    await _label_the_old_way(connection, task_id, labels)
    return task_id


async def _label_the_old_way(connection: AsyncConnection, task_id: UUID, labels: list[str]) -> None:
    """Relabel as an image from before `labels_json` does: replace the rows, leave the column."""
    await connection.execute(delete(TaskLabelModel.__table__).where(TaskLabelModel.task_id == task_id))
    if labels:
        await connection.execute(
            insert(TaskLabelModel.__table__),
            # Rows in reverse: the order is the position's, not the rows'.
            [
                {"task_id": task_id, "label": label, "position": position}
                for position, label in reversed(list(enumerate(labels)))
            ],
        )


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


async def test_what_an_older_image_writes_after_the_migration_reads_the_same(database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A rollback to an image from before the column, then forward again: its tasks keep
    the labels it gave them, in its order, with nothing to repair."""
    async with ModuleHarness(
        [project], database_url=database_url, data_dir=str(tmp_path), db_bootstrap="migrate"
    ) as harness:
        alice = harness.user("alice@example.com")
        created = await harness.post(f"{API}/projects", json={"name": "Rolled back"}, user=alice)
        project_id = UUID(created.json()["id"])
        ours = await harness.post(
            f"{API}/projects/{project_id}/tasks", json={"title": "ours", "labels": ["b", "a"]}, user=alice
        )
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as connection:  # the older image, on the same database
                theirs = await _write_the_old_way(connection, project_id, alice.id, "theirs", 59, ["y", "x"])
                await _label_the_old_way(connection, UUID(ours.json()["id"]), ["c", "b", "é"])
            async with engine.begin() as connection:
                await _label_the_old_way(connection, theirs, [])
                emptied = await _write_the_old_way(connection, project_id, alice.id, "emptied", 58, ["z"])
                await _label_the_old_way(connection, emptied, [])
                relabelled = await _write_the_old_way(connection, project_id, alice.id, "again", 57, ["q"])
                await _label_the_old_way(connection, relabelled, ["r", "q"])
        finally:
            await engine.dispose()
        page = await harness.get(f"{API}/projects/{project_id}/tasks?sort=created_at", user=alice)
        one = await harness.get(f"{API}/tasks/{ours.json()['id']}", user=alice)
        by_label = await harness.get(f"{API}/projects/{project_id}/tasks?label=r", user=alice)

    assert ours.status_code == 201, ours.text
    labels = {task["title"]: task["labels"] for task in page.json()["items"]}
    assert labels == {"ours": ["c", "b", "é"], "theirs": [], "emptied": [], "again": ["r", "q"]}
    assert one.json()["labels"] == ["c", "b", "é"]
    assert [task["title"] for task in by_label.json()["items"]] == ["again"]


async def _labels_json_triggers(connection: AsyncConnection) -> list[str]:
    """The definitions that keep `labels_json`, as the database holds them."""
    if connection.dialect.name == "postgresql":
        sql = (
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname LIKE 'project_task_labels_json%'"
            " UNION ALL SELECT prosrc FROM pg_proc WHERE proname = 'project_task_labels_json'"
        )
    else:
        sql = "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'project_task_labels_json%'"
    return sorted(row[0] for row in await connection.execute(text(sql)))


async def test_a_migrated_database_keeps_the_labels_as_a_created_one_does(database_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Production migrates, the tests mostly `create_all`: both must hold the same triggers."""
    engine = create_async_engine(database_url)
    try:
        await upgrade(project, engine)
        async with engine.begin() as connection:
            migrated = await _labels_json_triggers(connection)
            await connection.run_sync(project.metadata.drop_all)
            await connection.execute(text(f"DROP TABLE {version_table(project)}"))
            await connection.run_sync(project.metadata.create_all)
            created = await _labels_json_triggers(connection)
    finally:
        await engine.dispose()

    assert len(migrated) == (5 if database_url.startswith("postgresql") else 3), migrated
    assert migrated == created
