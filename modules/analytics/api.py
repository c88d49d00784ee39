"""HTTP API of analytics: /api/v1/analytics."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import Provide

from cloudtaskhub.http.auth import requires_admin
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from modules.analytics.service import AnalyticsService, DayCount, provide_analytics_service


class DayFigure(msgspec.Struct):
    date: date
    count: int


class ProjectSummary(msgspec.Struct):
    tasks_by_status: dict[str, int]
    #: One entry per day of the last 30 (today last), zero days included.
    created_per_day: list[DayFigure]
    completed_per_day: list[DayFigure]
    avg_lead_time_seconds: float | None
    overdue: int


class MyActivity(msgspec.Struct):
    tasks_completed_7d: int
    tasks_assigned_open: int
    projects: int


class Overview(msgspec.Struct):
    users: int
    projects: int
    tasks: int
    events_last_hour: int


def provide_service(runtime: Runtime) -> AnalyticsService:
    return provide_analytics_service(runtime.module("analytics"))


def _days(series: list[DayCount]) -> list[DayFigure]:
    return [DayFigure(d.date, d.count) for d in series]


class AnalyticsController(Controller):
    path = "/api/v1/analytics"
    tags = ["analytics"]
    security = [{"BearerToken": []}]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}

    @get("/projects/{project_id:uuid}/summary", summary="A project's figures (members only)")
    async def project_summary(
        self, project_id: UUID, principal: Principal, service: AnalyticsService
    ) -> ProjectSummary:
        summary = await service.project_summary(project_id, principal.user_id)
        return ProjectSummary(
            tasks_by_status=summary.tasks_by_status,
            created_per_day=_days(summary.created_per_day),
            completed_per_day=_days(summary.completed_per_day),
            avg_lead_time_seconds=summary.avg_lead_time_seconds,
            overdue=summary.overdue,
        )

    @get("/me", summary="The caller's activity")
    async def me(self, principal: Principal, service: AnalyticsService) -> MyActivity:
        activity = await service.my_activity(principal.user_id)
        return MyActivity(activity.tasks_completed_7d, activity.tasks_assigned_open, activity.projects)

    @get("/overview", summary="Totals over everyone (admins only)")
    async def overview(self, principal: Principal, service: AnalyticsService) -> Overview:
        requires_admin(principal)
        totals = await service.overview()
        return Overview(totals.users, totals.projects, totals.tasks, totals.events_last_hour)
