"""project — projects, their members and tasks: the product's core domain.

Purpose: users create projects (within their plan's project limit), invite
registered users by email as `member` or `admin` (within the owner's plan's
members-per-project limit), and create (within the owner's plan's tasks per
billing period), assign, track, filter and page through tasks. Non-members see
nothing of a project (404); members read and write its tasks; the owner and
admins manage members; only the owner deletes it.
Projects and tasks are versioned (`ETag` / `If-Match`, 412 when stale).

Publishes: `project.project_created`, `project.project_deleted`,
`project.member_added`, `project.member_removed`, `project.task_created`,
`project.task_assigned`, `project.task_status_changed`, `project.task_deleted`
— each in the transaction of the change (outbox). Deleting a project publishes
`task_deleted` per task and `member_removed` per member before `project_deleted`.

Consumes: `auth.user_registered` (the user directory, for adding members by
email) and `billing.subscription_changed` (each user's plan limits and billing
period, which restarts the count of tasks created in their projects). Both are
local read models, so they are eventually consistent: a just-registered user
or a just-upgraded plan is seen once its event has been handled.

Terms: *owner* — the creator, a member with role `owner`; *manager* — owner or
admin; *directory* — this module's copy of who is registered; *keyset cursor*
— the (sort key, id) of the last row of a page, so paging stays correct while
rows are inserted.
"""

from pathlib import Path

from cloudtaskhub.module import Module
from modules.project.api import ProjectController, ProjectTaskController, TaskController
from modules.project.contracts import (
    MemberAdded,
    MemberRemoved,
    ProjectCreated,
    ProjectDeleted,
    TaskAssigned,
    TaskCreated,
    TaskDeleted,
    TaskStatusChanged,
    TaskUnassigned,
)
from modules.project.handlers import subscriptions
from modules.project.models import ProjectBase

module = Module(
    name="project",
    description="Projects, members and tasks",
    route_handlers=[ProjectController, ProjectTaskController, TaskController],
    path_prefixes=("/api/v1/projects", "/api/v1/tasks"),
    metadata=ProjectBase.metadata,
    publishes=[
        ProjectCreated,
        ProjectDeleted,
        MemberAdded,
        MemberRemoved,
        TaskCreated,
        TaskAssigned,
        TaskUnassigned,
        TaskStatusChanged,
        TaskDeleted,
    ],
    subscriptions=subscriptions,
    migrations=Path(__file__).parent / "migrations",
)
