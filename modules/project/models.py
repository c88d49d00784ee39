"""Tables owned by the project module.

Projects, their members and tasks, plus two read models fed by other modules'
events: the user directory (from `auth.user_registered`) and each user's plan
limits (from `billing.subscription_changed`). Foreign keys only ever point at
this module's own tables.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from advanced_alchemy.mixins import UUIDv7PrimaryKey
from sqlalchemy import DDL, ForeignKey, Index, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from cloudtaskhub.db import declarative_base_for

__all__ = [
    "LABELS_JSON_TRIGGERS",
    "DirectoryUserModel",
    "MemberModel",
    "PlanLimitsModel",
    "ProjectBase",
    "ProjectModel",
    "TaskLabelModel",
    "TaskModel",
]

ProjectBase = declarative_base_for("project")


class ProjectModel(UUIDv7PrimaryKey, ProjectBase):
    __tablename__ = "project_projects"
    __table_args__ = (Index("ix_project_projects_owner", "owner_id"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[UUID]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    #: Optimistic concurrency: SQLAlchemy adds `WHERE version = <read>` to every UPDATE.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class MemberModel(ProjectBase):
    """A user's membership of a project. The owner is a member with role `owner`."""

    __tablename__ = "project_members"
    __table_args__ = (Index("ix_project_members_user", "user_id"),)

    project_id: Mapped[UUID] = mapped_column(
        ForeignKey("project_projects.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    #: `owner`, `admin` or `member`.
    role: Mapped[str] = mapped_column(String(10))
    added_at: Mapped[datetime]


class TaskModel(UUIDv7PrimaryKey, ProjectBase):
    __tablename__ = "project_tasks"
    __table_args__ = (
        # One index per keyset ordering of the task list.
        Index("ix_project_tasks_created", "project_id", "created_at", "id"),
        Index("ix_project_tasks_due", "project_id", "due_date", "id"),
        Index("ix_project_tasks_priority", "project_id", "priority_rank", "id"),
        Index("ix_project_tasks_assignee", "assignee_id"),
    )

    project_id: Mapped[UUID] = mapped_column(ForeignKey("project_projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    #: `todo`, `in_progress` or `done`.
    status: Mapped[str] = mapped_column(String(20))
    #: `low`, `medium`, `high` or `urgent`.
    priority: Mapped[str] = mapped_column(String(10))
    #: `priority` as a number that sorts urgent (4) above low (1).
    priority_rank: Mapped[int]
    assignee_id: Mapped[UUID | None]
    due_date: Mapped[date | None]
    creator_id: Mapped[UUID]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)
    #: The labels in the client's order, as a JSON array: the hot reads take them from this
    #: one column instead of aggregating `project_task_labels` per row. The database keeps
    #: it (`LABELS_JSON_TRIGGERS`), never the app: see there.
    labels_json: Mapped[str] = mapped_column(Text, server_default="[]")

    __mapper_args__ = {"version_id_col": version}


class TaskLabelModel(ProjectBase):
    """One label of a task; a child table so `label=` filters the same way on every database."""

    __tablename__ = "project_task_labels"
    __table_args__ = (Index("ix_project_task_labels_label", "label"),)

    task_id: Mapped[UUID] = mapped_column(
        ForeignKey("project_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(50), primary_key=True)
    #: Keeps the order the client gave.
    position: Mapped[int]


def _sqlite_set_labels(row: str) -> str:
    """The SQLite trigger body's statement for the task of `row` (`NEW` or `OLD`)."""
    return f"""
    UPDATE project_tasks SET labels_json = COALESCE((
        SELECT json_group_array(label) OVER (
            ORDER BY position ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
        FROM project_task_labels WHERE task_id = {row}.task_id LIMIT 1
    ), '[]') WHERE id = {row}.task_id;"""  # noqa: S608 (`row` is NEW or OLD, no value)


#: `project_tasks.labels_json` as the database derives it from `project_task_labels`, in
#: `position` order, after every change to a task's label rows. The database, not the app,
#: so that no writer can leave the two disagreeing: an image from before the column (after
#: a rollback) writes only the rows, and the column still follows them. SQLite orders by a
#: window: 3.40 has no `json_group_array(... ORDER BY ...)`, and an ordered subquery's
#: ORDER BY is not a promise about the aggregate's input order.
LABELS_JSON_TRIGGERS: dict[str, tuple[str, ...]] = {
    "sqlite": tuple(
        f"CREATE TRIGGER project_task_labels_json_{name} AFTER {name.upper()} ON project_task_labels\n"
        f"BEGIN{''.join(_sqlite_set_labels(row) for row in rows)}\nEND"
        for name, rows in (("insert", ("NEW",)), ("update", ("OLD", "NEW")), ("delete", ("OLD",)))
    ),
    # Once per statement, over its transition table: deleting a task's labels is one update.
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
        *(
            f"""CREATE TRIGGER project_task_labels_json_{name} AFTER {event} ON project_task_labels
REFERENCING {table} TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION project_task_labels_json()"""
            for name, event, table in (
                ("insert", "INSERT", "NEW"),
                ("update_old", "UPDATE", "OLD"),
                ("update_new", "UPDATE", "NEW"),
                ("delete", "DELETE", "OLD"),
            )
        ),
    ),
}
for _dialect, _statements in LABELS_JSON_TRIGGERS.items():
    for _statement in _statements:
        event.listen(TaskLabelModel.__table__, "after_create", DDL(_statement).execute_if(dialect=_dialect))


class DirectoryUserModel(ProjectBase):
    """Who is registered, from `auth.user_registered`: lets members be added by email."""

    __tablename__ = "project_directory_users"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    #: Lower-cased.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))


class PlanLimitsModel(ProjectBase):
    """A user's plan limits, from `billing.subscription_changed`, and the tasks created in
    projects they own during billing's current period (the monthly task quota).

    No row means the free plan and no task yet. A row whose `updated_at` is the epoch was
    written by a task creation before billing's first event: free limits, period unknown.
    """

    __tablename__ = "project_plan_limits"

    user_id: Mapped[UUID] = mapped_column(primary_key=True)
    plan: Mapped[str] = mapped_column(String(50))
    #: Negative means unlimited.
    projects: Mapped[int]
    members_per_project: Mapped[int]
    #: Negative means unlimited.
    tasks_per_month: Mapped[int]
    #: End of billing's current period (exclusive), as billing last said; None until it has.
    period_end: Mapped[datetime | None]
    #: Tasks created in the owner's projects since the period ending `period_end` began;
    #: deleting a task does not lower it. Restarts at 0 when billing announces a later period.
    tasks_created: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime]
