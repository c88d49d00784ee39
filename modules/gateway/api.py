"""HTTP API of the gateway: the API index, the live status and the caller's dashboard."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import Provide

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
    process: str
    version: str
    bus: str
    last_seen: datetime
    outbox_backlog: int
    dead_letters: int
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

    @get("/api/v1/status", summary="Live topology from module heartbeats")
    async def status(self, service: StatusService) -> Status:
        topology = await service.topology()
        return Status(
            mode=topology.mode,
            modules=[
                ProcessStatus(
                    module=p.module,
                    process=p.process,
                    version=p.version,
                    bus=p.bus,
                    last_seen=p.last_seen,
                    outbox_backlog=p.outbox_backlog,
                    dead_letters=p.dead_letters,
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
