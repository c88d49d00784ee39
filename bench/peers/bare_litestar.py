"""The floor: bare Litestar JSON endpoints (same documents, no auth, no database)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, get, post

from bench.peers.page import load_dashboard, load_page, load_task

PAGE = load_page()
TASK = load_task()
DASHBOARD = load_dashboard()


class TaskCreate(msgspec.Struct):
    title: str
    description: str | None = None
    priority: str = "medium"
    labels: list[str] = msgspec.field(default_factory=list)


@get("/tasks", sync_to_thread=False)
def list_tasks() -> dict[str, Any]:
    return PAGE


@get("/tasks/{task_id:str}", sync_to_thread=False)
def get_task(task_id: str) -> dict[str, Any]:
    """One task from memory: the floor of `GET /api/v1/tasks/{id}` (path parameter parsed too)."""
    return TASK


@get("/dashboard", sync_to_thread=False)
def dashboard() -> dict[str, Any]:
    return DASHBOARD


def created(data: TaskCreate) -> dict[str, Any]:
    """The task-sized document every peer's POST answers (`durable_floor` too)."""
    task = dict(PAGE["items"][0])
    task["title"] = data.title
    return task


@post("/tasks", sync_to_thread=False)
def create_task(data: TaskCreate) -> dict[str, Any]:
    """Parses the same body as our POST and answers a task-sized document."""
    return created(data)


@get("/health/ready", sync_to_thread=False)
def ready() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar([list_tasks, get_task, dashboard, create_task, ready], debug=False)
