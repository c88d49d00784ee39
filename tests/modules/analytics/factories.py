"""Events as project would publish them, for analytics and gateway tests."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from cloudtaskhub.clock import new_id

__all__ = ["create_project", "create_task", "move", "new_id"]
from cloudtaskhub.testing import ModuleHarness
from modules.project.contracts import ProjectCreated, TaskCreated, TaskStatusChanged


async def create_project(harness: ModuleHarness, owner: UUID, name: str = "Apollo") -> UUID:
    project_id = new_id()
    await harness.publish(ProjectCreated(project_id=project_id, owner_id=owner, name=name))
    return project_id


async def create_task(
    harness: ModuleHarness,
    project_id: UUID,
    creator: UUID,
    *,
    assignee: UUID | None = None,
    due: date | None = None,
) -> UUID:
    task_id = new_id()
    await harness.publish(
        TaskCreated(
            task_id=task_id,
            project_id=project_id,
            creator_id=creator,
            title="t",
            priority="medium",
            assignee_id=assignee,
            due_date=due,
        )
    )
    return task_id


async def move(harness: ModuleHarness, task_id: UUID, project_id: UUID, old: str, new: str, by: UUID) -> None:
    await harness.publish(
        TaskStatusChanged(task_id=task_id, project_id=project_id, old=old, new=new, changed_by=by)
    )
