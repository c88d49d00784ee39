"""/api/v1/projects: projects and their members."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from cloudtaskhub.http.pagination import Page, PageRequest, encode_cursor
from cloudtaskhub.http.versioning import etag
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from modules.project.api._schemas import Member, MemberAdd, Project, ProjectCreate, ProjectUpdate
from modules.project.service import (
    MemberService,
    ProjectService,
    provide_member_service,
    provide_project_service,
)

__all__ = ["ProjectController"]


def provide_projects(runtime: Runtime) -> ProjectService:
    return provide_project_service(runtime.module("project"))


def provide_members(runtime: Runtime) -> MemberService:
    return provide_member_service(runtime.module("project"))


def _versioned(project: Project, status_code: int = 200) -> Response[Project]:
    return Response(project, status_code=status_code, headers={"ETag": etag(project.version)})


class ProjectController(Controller):
    path = "/api/v1/projects"
    tags = ["projects"]
    security = [{"BearerToken": []}]
    dependencies = {
        "projects": Provide(provide_projects, sync_to_thread=False),
        "members": Provide(provide_members, sync_to_thread=False),
    }

    @post("/", status_code=HTTP_201_CREATED, summary="Create a project (within the plan's limit)")
    async def create_project(
        self, data: ProjectCreate, principal: Principal, projects: ProjectService
    ) -> Response[Project]:
        view = await projects.create_project(principal.user_id, data.name, data.description)
        return _versioned(Project.of(view), HTTP_201_CREATED)

    @get("/", summary="The caller's projects")
    async def list_projects(
        self, principal: Principal, page: PageRequest, projects: ProjectService
    ) -> Page[Project]:
        result = await projects.list_projects(principal.user_id, page.limit, page.position())
        cursor = encode_cursor(result.next_cursor) if result.next_cursor else None
        return Page([Project.of(v) for v in result.items], cursor)

    @get("/{project_id:uuid}", summary="One project")
    async def get_project(
        self, project_id: UUID, principal: Principal, projects: ProjectService
    ) -> Response[Project]:
        return _versioned(Project.of(await projects.get_project(principal.user_id, project_id)))

    @patch("/{project_id:uuid}", summary="Rename or re-describe a project (owner/admin; If-Match)")
    async def update_project(
        self,
        project_id: UUID,
        data: ProjectUpdate,
        principal: Principal,
        expected_version: int | None,
        projects: ProjectService,
    ) -> Response[Project]:
        view = await projects.update_project(
            principal.user_id,
            project_id,
            name=data.name,
            description=data.description,
            expected_version=expected_version,
        )
        return _versioned(Project.of(view))

    @delete("/{project_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Delete a project (owner)")
    async def delete_project(
        self, project_id: UUID, principal: Principal, expected_version: int | None, projects: ProjectService
    ) -> None:
        await projects.delete_project(principal.user_id, project_id, expected_version=expected_version)

    @post(
        "/{project_id:uuid}/members",
        status_code=HTTP_201_CREATED,
        summary="Add a member by email (owner/admin)",
    )
    async def add_member(
        self, project_id: UUID, data: MemberAdd, principal: Principal, members: MemberService
    ) -> Member:
        return Member.of(await members.add_member(principal.user_id, project_id, data.email, data.role))

    @get("/{project_id:uuid}/members", summary="The project's members")
    async def list_members(
        self, project_id: UUID, principal: Principal, page: PageRequest, members: MemberService
    ) -> Page[Member]:
        result = await members.list_members(principal.user_id, project_id, page.limit, page.position())
        cursor = encode_cursor(result.next_cursor) if result.next_cursor else None
        return Page([Member.of(v) for v in result.items], cursor)

    @delete(
        "/{project_id:uuid}/members/{user_id:uuid}",
        status_code=HTTP_204_NO_CONTENT,
        summary="Remove a member (owner/admin, or oneself)",
    )
    async def remove_member(
        self, project_id: UUID, user_id: UUID, principal: Principal, members: MemberService
    ) -> None:
        await members.remove_member(principal.user_id, project_id, user_id)
