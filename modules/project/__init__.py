"""project — Projects, members and tasks (being built; see its issue)."""

from cloudtaskhub.module import Module

module = Module(
    name="project",
    description="Projects, members and tasks",
    path_prefixes=("/api/v1/projects", "/api/v1/tasks",),
)
