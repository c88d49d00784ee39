"""The peer: the FastAPI toy the original project shipped, made equivalent.

A list endpoint with pydantic response models returning the same 20-task page
from memory: no authentication, no database, no pagination logic.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from fastapi import FastAPI
from pydantic import BaseModel

from bench.peers.page import load_page


class Task(BaseModel):
    id: UUID
    project_id: UUID
    title: str
    description: str | None
    status: str
    priority: str
    assignee_id: UUID | None
    due_date: date | None
    labels: list[str]
    creator_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int


class TaskPage(BaseModel):
    items: list[Task]
    next_cursor: str | None


PAGE = TaskPage.model_validate(load_page())


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/tasks", response_model=TaskPage)
    async def list_tasks() -> TaskPage:
        return PAGE

    @app.get("/health/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ok"}

    return app
