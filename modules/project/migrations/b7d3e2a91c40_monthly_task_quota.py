"""monthly task quota: tasks_per_month, billing period end and the period's task count

Revision ID: b7d3e2a91c40
Revises: 6aa8b12254c5
Create Date: 2026-11-29 20:10:00.000000

Rows that exist already were written from events before the project module kept the
task quota: they get `tasks_per_month = -1` (unlimited) and no period until billing's
next `subscription_changed` for the user (at the latest the renewal at the end of the
month) brings the real limit and period. Limiting them to the free plan's 100 instead
would wrongly block paying users until then.
"""

from __future__ import annotations

from collections.abc import Sequence

import advanced_alchemy.types
import sqlalchemy as sa
from alembic import op

revision: str = "b7d3e2a91c40"
down_revision: str | Sequence[str] | None = "6aa8b12254c5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project_plan_limits", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tasks_per_month", sa.Integer(), nullable=False, server_default="-1"))
        batch_op.add_column(
            sa.Column("period_end", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("tasks_created", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("project_plan_limits", schema=None) as batch_op:
        batch_op.drop_column("tasks_created")
        batch_op.drop_column("period_end")
        batch_op.drop_column("tasks_per_month")
