"""a task's labels in one column: project_tasks.labels_json

Revision ID: d41c7e9a5b20
Revises: b7d3e2a91c40
Create Date: 2026-12-01 21:30:00.000000

The task list, one task and a task's update read the labels from this column instead of
aggregating `project_task_labels` per task. Tasks that exist already get theirs from
those rows, in their `position` order, a bounded chunk of updates at a time.

An image from before this revision writes labels to `project_task_labels` only: after a
rollback to one and a roll forward again, the tasks it wrote need this backfill again
(README, "Deployment").
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "d41c7e9a5b20"
down_revision: str | Sequence[str] | None = "b7d3e2a91c40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TASKS = sa.table("project_tasks", sa.column("id"), sa.column("labels_json"))
_LABELS = sa.table("project_task_labels", sa.column("task_id"), sa.column("label"), sa.column("position"))
_CHUNK = 1000


def upgrade() -> None:
    with op.batch_alter_table("project_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("labels_json", sa.Text(), nullable=False, server_default="[]"))
    connection = op.get_bind()
    # Ids go back exactly as the driver returned them (untyped columns: no GUID processing).
    rows = connection.execute(
        sa.select(_LABELS.c.task_id, _LABELS.c.label).order_by(_LABELS.c.task_id, _LABELS.c.position)
    ).all()
    backfill = (
        sa.update(_TASKS)
        .where(_TASKS.c.id == sa.bindparam("task"))
        .values(labels_json=sa.bindparam("labels"))
    )
    for chunk in _chunks(_labels_by_task(rows)):
        connection.execute(backfill, chunk)


def _labels_by_task(rows: Sequence[Any]) -> Iterator[dict[str, Any]]:
    for task_id, labels in itertools.groupby(rows, key=lambda row: row[0]):
        yield {"task": task_id, "labels": json.dumps([row[1] for row in labels], ensure_ascii=False)}


def _chunks(parameters: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(itertools.islice(parameters, _CHUNK)):
        yield chunk


def downgrade() -> None:
    with op.batch_alter_table("project_tasks", schema=None) as batch_op:
        batch_op.drop_column("labels_json")
