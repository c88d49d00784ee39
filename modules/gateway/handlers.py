"""Gateway subscribers: they translate events into read-model updates."""

from __future__ import annotations

from typing import Any

from cloudtaskhub.events.heartbeat import Heartbeat
from cloudtaskhub.module import HandlerContext, Subscription
from modules.auth.contracts import UserRegistered
from modules.billing.contracts import SubscriptionChanged
from modules.gateway.service import provide_dashboard_service, provide_status_service
from modules.notification.contracts import NotificationCreated, NotificationRead
from modules.project.contracts import (
    MemberAdded,
    MemberRemoved,
    ProjectCreated,
    ProjectDeleted,
    TaskAssigned,
    TaskCreated,
    TaskDeleted,
    TaskStatusChanged,
    TaskUnassigned,
)


async def record_topology_from_heartbeat(event: Heartbeat, ctx: HandlerContext) -> None:
    await provide_status_service(ctx.module).record_heartbeat(event)


async def start_on_free_plan_when_user_registered(event: UserRegistered, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).welcome_user(event.user_id)


async def show_plan_when_subscription_changed(event: SubscriptionChanged, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).change_plan(event.user_id, event.plan, ctx.envelope.time)


async def list_project_when_project_created(event: ProjectCreated, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).open_project(event.project_id, event.owner_id, event.name)


async def unlist_project_when_project_deleted(event: ProjectDeleted, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).close_project(event.project_id, event.name)


async def list_project_when_member_added(event: MemberAdded, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).add_member(event.project_id, event.user_id)


async def unlist_project_when_member_removed(event: MemberRemoved, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).remove_member(event.project_id, event.user_id)


async def track_task_when_task_created(event: TaskCreated, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).track_task(
        event.task_id, event.project_id, event.assignee_id, event.status
    )


async def reassign_task_when_task_assigned(event: TaskAssigned, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).assign_task(
        event.task_id, event.project_id, event.assignee_id
    )


async def unassign_task_when_task_unassigned(event: TaskUnassigned, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).assign_task(event.task_id, event.project_id, None)


async def update_task_when_status_changed(event: TaskStatusChanged, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).change_task_status(event.task_id, event.project_id, event.new)


async def forget_task_when_task_deleted(event: TaskDeleted, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).forget_task(event.task_id, event.project_id)


async def count_notification_when_created(event: NotificationCreated, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).count_notification(event.notification_id, event.user_id)


async def uncount_notification_when_read(event: NotificationRead, ctx: HandlerContext) -> None:
    await provide_dashboard_service(ctx.module).mark_notification_read(event.notification_id, event.user_id)


subscriptions: list[Subscription[Any]] = [
    Subscription(Heartbeat, record_topology_from_heartbeat),
    Subscription(UserRegistered, start_on_free_plan_when_user_registered),
    Subscription(SubscriptionChanged, show_plan_when_subscription_changed),
    Subscription(ProjectCreated, list_project_when_project_created),
    Subscription(ProjectDeleted, unlist_project_when_project_deleted),
    Subscription(MemberAdded, list_project_when_member_added),
    Subscription(MemberRemoved, unlist_project_when_member_removed),
    Subscription(TaskCreated, track_task_when_task_created),
    Subscription(TaskAssigned, reassign_task_when_task_assigned),
    Subscription(TaskUnassigned, unassign_task_when_task_unassigned),
    Subscription(TaskStatusChanged, update_task_when_status_changed),
    Subscription(TaskDeleted, forget_task_when_task_deleted),
    Subscription(NotificationCreated, count_notification_when_created),
    Subscription(NotificationRead, uncount_notification_when_read),
]
