"""a task's labels in one column: project_tasks.labels_json, kept by the database

Revision ID: d41c7e9a5b20
Revises: b7d3e2a91c40
Create Date: 2026-12-01 21:30:00.000000

The task list, one task and a task's update read the labels from this column instead of
aggregating `project_task_labels` per task. Triggers on `project_task_labels` set it after
every change to a task's label rows, whoever makes it: an image from before this revision
(after a rollback) writes only the rows, and the column follows them. Tasks that exist
already get theirs in one statement, with the triggers' expression.

The statements are written out as they were at this revision, not imported from the
models (`LABELS_JSON_TRIGGERS`, the same text for `create_all`): a revision must mean the
same schema whatever the models say later.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d41c7e9a5b20"
down_revision: str | Sequence[str] | None = "b7d3e2a91c40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: A task's labels as a JSON array in `position` order, `{task}` naming the task's id: what
#: the triggers set after a change to its label rows and the backfill sets for every task.
_LABELS_OF = {
    "sqlite": """COALESCE((
        SELECT json_group_array(label) OVER (
            ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
        FROM project_task_labels WHERE task_id = {task} LIMIT 1
    ), '[]')""",
    "postgresql": """COALESCE((
        SELECT json_agg(label ORDER BY position)::text FROM project_task_labels
        WHERE task_id = {task}
    ), '[]')""",
}
_SET = "UPDATE project_tasks SET labels_json = "


def _sqlite_trigger(name: str, rows: tuple[str, ...]) -> str:
    body = "".join(
        f"\n    {_SET}{_LABELS_OF['sqlite'].format(task=f'{row}.task_id')} WHERE id = {row}.task_id;"
        for row in rows
    )
    head = f"CREATE TRIGGER project_task_labels_json_{name} AFTER {name.upper()} ON project_task_labels"
    return f"{head}\nBEGIN{body}\nEND"


def _postgresql_function() -> str:
    labels = _LABELS_OF["postgresql"].format(task="project_tasks.id")
    body = f"{_SET}{labels}\n    WHERE id IN (SELECT task_id FROM changed);"  # noqa: S608 (no values)
    head = "CREATE OR REPLACE FUNCTION project_task_labels_json() RETURNS trigger LANGUAGE plpgsql AS $$"
    return f"{head}\nBEGIN\n    {body}\n    RETURN NULL;\nEND $$"


def _postgresql_trigger(name: str, event: str, table: str) -> str:
    return (
        f"CREATE TRIGGER project_task_labels_json_{name} AFTER {event} ON project_task_labels\n"
        f"REFERENCING {table} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION project_task_labels_json()"
    )


_TRIGGERS = {
    "sqlite": (
        _sqlite_trigger("insert", ("NEW",)),
        _sqlite_trigger("update", ("OLD", "NEW")),
        _sqlite_trigger("delete", ("OLD",)),
    ),
    "postgresql": (
        _postgresql_function(),
        _postgresql_trigger("insert", "INSERT", "NEW"),
        _postgresql_trigger("update_old", "UPDATE", "OLD"),
        _postgresql_trigger("update_new", "UPDATE", "NEW"),
        _postgresql_trigger("delete", "DELETE", "OLD"),
    ),
}
_BACKFILL = {
    dialect: f"{_SET}{labels.format(task='project_tasks.id')}"  # noqa: S608 (no values)
    " WHERE id IN (SELECT task_id FROM project_task_labels)"
    for dialect, labels in _LABELS_OF.items()
}
_DROP = {
    "sqlite": (
        "DROP TRIGGER IF EXISTS project_task_labels_json_insert",
        "DROP TRIGGER IF EXISTS project_task_labels_json_update",
        "DROP TRIGGER IF EXISTS project_task_labels_json_delete",
    ),
    "postgresql": (
        "DROP TRIGGER IF EXISTS project_task_labels_json_insert ON project_task_labels",
        "DROP TRIGGER IF EXISTS project_task_labels_json_update_old ON project_task_labels",
        "DROP TRIGGER IF EXISTS project_task_labels_json_update_new ON project_task_labels",
        "DROP TRIGGER IF EXISTS project_task_labels_json_delete ON project_task_labels",
        "DROP FUNCTION IF EXISTS project_task_labels_json()",
    ),
}


def upgrade() -> None:
    with op.batch_alter_table("project_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels_json", sa.Text(), nullable=False, server_default="[]"))
    dialect = op.get_bind().dialect.name
    for statement in _TRIGGERS[dialect]:
        op.execute(statement)
    op.execute(_BACKFILL[dialect])


def downgrade() -> None:
    for statement in _DROP[op.get_bind().dialect.name]:
        op.execute(statement)
    with op.batch_alter_table("project_tasks", schema=None) as batch_op:
        batch_op.drop_column("labels_json")
