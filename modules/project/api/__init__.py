"""HTTP API of the project module: /api/v1/projects and /api/v1/tasks."""

from modules.project.api._projects import ProjectController
from modules.project.api._tasks import ProjectTaskController, TaskController

__all__ = ["ProjectController", "ProjectTaskController", "TaskController"]
