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

_TRIGGERS = {
    "sqlite": (
        """CREATE TRIGGER project_task_labels_json_insert AFTER INSERT ON project_task_labels
BEGIN
    UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_group_array(label) OVER (
            ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
        FROM project_task_labels WHERE task_id = NEW.task_id LIMIT 1
    ), '[]') WHERE id = NEW.task_id;
END""",
        """CREATE TRIGGER project_task_labels_json_update AFTER UPDATE ON project_task_labels
BEGIN
    UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_group_array(label) OVER (
            ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
        FROM project_task_labels WHERE task_id = OLD.task_id LIMIT 1
    ), '[]') WHERE id = OLD.task_id;
    UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_group_array(label) OVER (
            ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
        FROM project_task_labels WHERE task_id = NEW.task_id LIMIT 1
    ), '[]') WHERE id = NEW.task_id;
END""",
        """CREATE TRIGGER project_task_labels_json_delete AFTER DELETE ON project_task_labels
BEGIN
    UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_group_array(label) OVER (
            ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
        FROM project_task_labels WHERE task_id = OLD.task_id LIMIT 1
    ), '[]') WHERE id = OLD.task_id;
END""",
    ),
    "postgresql": (
        """CREATE OR REPLACE FUNCTION project_task_labels_json() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_agg(label ORDER BY position)::text FROM project_task_labels
        WHERE task_id = project_tasks.id
    ), '[]')
    WHERE id IN (SELECT task_id FROM changed);
    RETURN NULL;
END $$""",
        """CREATE TRIGGER project_task_labels_json_insert AFTER INSERT ON project_task_labels
REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION project_task_labels_json()""",
        """CREATE TRIGGER project_task_labels_json_update_old AFTER UPDATE ON project_task_labels
REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION project_task_labels_json()""",
        """CREATE TRIGGER project_task_labels_json_update_new AFTER UPDATE ON project_task_labels
REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION project_task_labels_json()""",
        """CREATE TRIGGER project_task_labels_json_delete AFTER DELETE ON project_task_labels
REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION project_task_labels_json()""",
    ),
}
_BACKFILL = {
    "sqlite": """UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_group_array(label) OVER (
            ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
        FROM project_task_labels WHERE task_id = project_tasks.id LIMIT 1
    ), '[]') WHERE id IN (SELECT task_id FROM project_task_labels)""",
    "postgresql": """UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_agg(label ORDER BY position)::text FROM project_task_labels
        WHERE task_id = project_tasks.id
    ), '[]') WHERE id IN (SELECT task_id FROM project_task_labels)""",
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
