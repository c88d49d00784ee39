"""The floor: a bare Litestar JSON endpoint (same page, no auth, no database)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar, get, post

from bench.peers.page import load_page

PAGE = load_page()


class TaskCreate(msgspec.Struct):
    title: str
    description: str | None = None
    priority: str = "medium"
    labels: list[str] = msgspec.field(default_factory=list)


@get("/tasks", sync_to_thread=False)
def list_tasks() -> dict[str, Any]:
    return PAGE


@post("/tasks", sync_to_thread=False)
def create_task(data: TaskCreate) -> dict[str, Any]:
    """Parses the same body as our POST and answers a task-sized document."""
    task = dict(PAGE["items"][0])
    task["title"] = data.title
    return task


@get("/health/ready", sync_to_thread=False)
def ready() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar([list_tasks, create_task, ready], debug=False)
