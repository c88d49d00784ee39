"""Use cases of the project module, one service per resource.

Each service has exactly one provider here, reused by the HTTP API, the event
handlers and the tests.
"""

from modules.project.service._directory import DirectoryService, provide_directory_service
from modules.project.service._members import MemberService, provide_member_service
from modules.project.service._projects import ProjectService, provide_project_service
from modules.project.service._tasks import (
    PRIORITY_RANK,
    SORTS,
    TaskChanges,
    TaskDraft,
    TaskFilter,
    TaskService,
    provide_task_service,
)
from modules.project.service._views import MemberView, PageOf, ProjectView, TaskView

__all__ = [
    "PRIORITY_RANK",
    "SORTS",
    "DirectoryService",
    "MemberService",
    "MemberView",
    "PageOf",
    "ProjectService",
    "ProjectView",
    "TaskChanges",
    "TaskDraft",
    "TaskFilter",
    "TaskService",
    "TaskView",
    "provide_directory_service",
    "provide_member_service",
    "provide_project_service",
    "provide_task_service",
]
