"""HTTP API of the gateway: the API index, the live status and the caller's dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get
from litestar.di import Provide

from cloudtaskhub.http.auth import optional_principal
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from modules.gateway.service import (
    DashboardService,
    StatusService,
    provide_dashboard_service,
    provide_status_service,
)


class Index(msgspec.Struct):
    name: str
    version: str
    mode: str
    links: dict[str, str]


class ProcessStatus(msgspec.Struct):
    module: str
    #: The process's name (host:pid or the Swarm task) for admins; for anyone else an
    #: alias, the same for one process within one answer, that names no host.
    process: str
    version: str
    bus: str
    last_seen: datetime
    #: Admins only (null for anyone else): how far behind the process is.
    outbox_backlog: int | None
    dead_letters: int | None
    alive: bool


class Status(msgspec.Struct):
    mode: str
    modules: list[ProcessStatus]


class ProjectRef(msgspec.Struct):
    id: UUID
    name: str


class Dashboard(msgspec.Struct):
    #: The caller's projects (member or owner), by name.
    projects: list[ProjectRef]
    open_tasks_assigned: int
    unread_notifications: int
    plan: str


def provide_service(runtime: Runtime) -> StatusService:
    return provide_status_service(runtime.module("gateway"))


def provide_dashboard(runtime: Runtime) -> DashboardService:
    return provide_dashboard_service(runtime.module("gateway"))


class GatewayController(Controller):
    tags = ["gateway"]
    dependencies = {
        "service": Provide(provide_service, sync_to_thread=False),
        "dashboards": Provide(provide_dashboard, sync_to_thread=False),
    }

    @get("/", summary="API index")
    async def index(self, service: StatusService, runtime: Runtime) -> Index:
        topology = await service.topology()
        return Index(
            name="CloudTaskHub",
            version=runtime.settings.version,
            mode=topology.mode,
            links={
                "auth": "/api/v1/auth",
                "projects": "/api/v1/projects",
                "billing": "/api/v1/billing",
                "notifications": "/api/v1/notifications",
                "analytics": "/api/v1/analytics",
                "dashboard": "/api/v1/dashboard",
                "status": "/api/v1/status",
                "openapi": "/schema/openapi.json",
                "docs": "/schema",
            },
        )

    @get("/api/v1/status", summary="Live topology from module heartbeats (process names and backlog: admins)")
    async def status(self, service: StatusService, request: Request[Any, Any, Any]) -> Status:
        caller = optional_principal(request)
        admin = caller is not None and caller.is_admin
        topology = await service.topology()
        aliases: dict[str, str] = {}
        return Status(
            mode=topology.mode,
            modules=[
                ProcessStatus(
                    module=p.module,
                    process=p.process
                    if admin
                    else aliases.setdefault(p.process, f"process-{len(aliases) + 1}"),
                    version=p.version,
                    bus=p.bus,
                    last_seen=p.last_seen,
                    outbox_backlog=p.outbox_backlog if admin else None,
                    dead_letters=p.dead_letters if admin else None,
                    alive=p.last_seen >= topology.alive_after,
                )
                for p in topology.processes
            ],
        )

    @get(
        "/api/v1/dashboard",
        summary="The caller's projects, open tasks, unread notifications and plan (from events only)",
        security=[{"BearerToken": []}],
    )
    async def dashboard(self, principal: Principal, dashboards: DashboardService) -> Dashboard:
        view = await dashboards.dashboard(principal.user_id)
        return Dashboard(
            projects=[ProjectRef(id=p.id, name=p.name) for p in view.projects],
            open_tasks_assigned=view.open_tasks_assigned,
            unread_notifications=view.unread_notifications,
            plan=view.plan,
        )
