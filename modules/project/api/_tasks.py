"""/api/v1/projects/{id}/tasks and /api/v1/tasks/{id}."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from cloudtaskhub.http.pagination import Page, PageRequest, encode_cursor
from cloudtaskhub.http.versioning import etag
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from modules.project.api._schemas import LINE, TEXT, Priority, Sort, Status, Task, TaskCreate, TaskUpdate
from modules.project.service import TaskChanges, TaskDraft, TaskFilter, TaskService, provide_task_service

__all__ = ["ProjectTaskController", "TaskController"]


def provide_tasks(runtime: Runtime) -> TaskService:
    return provide_task_service(runtime.module("project"))


def _versioned(task: Task, status_code: int = 200) -> Response[Task]:
    return Response(task, status_code=status_code, headers={"ETag": etag(task.version)})


class ProjectTaskController(Controller):
    path = "/api/v1/projects/{project_id:uuid}/tasks"
    tags = ["tasks"]
    security = [{"BearerToken": []}]
    dependencies = {"tasks": Provide(provide_tasks, sync_to_thread=False)}

    @post("/", status_code=HTTP_201_CREATED, summary="Create a task (assignee must be a member)")
    async def create_task(
        self, project_id: UUID, data: TaskCreate, principal: Principal, tasks: TaskService
    ) -> Response[Task]:
        draft = TaskDraft(
            title=data.title,
            description=data.description,
            priority=data.priority,
            due_date=data.due_date,
            assignee_id=data.assignee_id,
            labels=data.labels,
        )
        view = await tasks.create_task(principal.user_id, project_id, draft)
        return _versioned(Task.of(view), HTTP_201_CREATED)

    @get("/", summary="A project's tasks: filtered, sorted, keyset-paginated")
    async def list_tasks(
        self,
        project_id: UUID,
        principal: Principal,
        page: PageRequest,
        tasks: TaskService,
        status: Status | None = None,
        assignee_id: UUID | None = None,
        priority: Priority | None = None,
        label: Annotated[str | None, Parameter(min_length=1, max_length=50, pattern=LINE)] = None,
        q: Annotated[
            str | None, Parameter(max_length=200, pattern=TEXT, description="Case-insensitive title search")
        ] = None,
        sort: Sort = "created_at",
    ) -> Page[Task]:
        where = TaskFilter(
            status=status, assignee_id=assignee_id, priority=priority, label=label, q=q, sort=sort
        )
        result = await tasks.list_tasks(principal.user_id, project_id, where, page.limit, page.position())
        cursor = encode_cursor(result.next_cursor) if result.next_cursor else None
        return Page([Task.of(v) for v in result.items], cursor)


class TaskController(Controller):
    path = "/api/v1/tasks"
    tags = ["tasks"]
    security = [{"BearerToken": []}]
    dependencies = {"tasks": Provide(provide_tasks, sync_to_thread=False)}

    @get("/{task_id:uuid}", summary="One task")
    async def get_task(self, task_id: UUID, principal: Principal, tasks: TaskService) -> Response[Task]:
        return _versioned(Task.of(await tasks.get_task(principal.user_id, task_id)))

    @patch("/{task_id:uuid}", summary="Change a task (If-Match)")
    async def update_task(
        self,
        task_id: UUID,
        data: TaskUpdate,
        principal: Principal,
        expected_version: int | None,
        tasks: TaskService,
    ) -> Response[Task]:
        changes = TaskChanges(
            title=data.title,
            description=data.description,
            status=data.status,
            priority=data.priority,
            assignee_id=data.assignee_id,
            due_date=data.due_date,
            labels=data.labels,
        )
        view = await tasks.update_task(principal.user_id, task_id, changes, expected_version=expected_version)
        return _versioned(Task.of(view))

    @delete("/{task_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Delete a task")
    async def delete_task(
        self, task_id: UUID, principal: Principal, expected_version: int | None, tasks: TaskService
    ) -> None:
        await tasks.delete_task(principal.user_id, task_id, expected_version=expected_version)
