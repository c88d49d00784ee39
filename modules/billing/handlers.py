"""Billing subscribers: a free subscription for each new user, usage metered from project events."""

from __future__ import annotations

from cloudtaskhub.module import HandlerContext, Subscription
from modules.auth.contracts import UserRegistered
from modules.billing.service import provide_billing_service
from modules.project.contracts import (
    MemberAdded,
    MemberRemoved,
    ProjectCreated,
    ProjectDeleted,
    TaskCreated,
)


async def start_free_subscription_when_user_registered(event: UserRegistered, ctx: HandlerContext) -> None:
    await provide_billing_service(ctx.module).start_free_subscription(event.user_id)


async def meter_project_when_created(event: ProjectCreated, ctx: HandlerContext) -> None:
    await provide_billing_service(ctx.module).meter_project_created(
        event.project_id, event.owner_id, ctx.envelope.time
    )


async def meter_project_when_deleted(event: ProjectDeleted, ctx: HandlerContext) -> None:
    await provide_billing_service(ctx.module).meter_project_deleted(
        event.project_id, event.owner_id, ctx.envelope.time
    )


async def meter_member_when_added(event: MemberAdded, ctx: HandlerContext) -> None:
    await provide_billing_service(ctx.module).meter_member_added(event.project_id, event.user_id)


async def meter_member_when_removed(event: MemberRemoved, ctx: HandlerContext) -> None:
    await provide_billing_service(ctx.module).meter_member_removed(event.project_id, event.user_id)


async def meter_task_when_created(event: TaskCreated, ctx: HandlerContext) -> None:
    await provide_billing_service(ctx.module).meter_task_created(
        event.task_id, event.project_id, event.created_at or ctx.envelope.time
    )


subscriptions = [
    Subscription(UserRegistered, start_free_subscription_when_user_registered),
    Subscription(ProjectCreated, meter_project_when_created),
    Subscription(ProjectDeleted, meter_project_when_deleted),
    Subscription(MemberAdded, meter_member_when_added),
    Subscription(MemberRemoved, meter_member_when_removed),
    Subscription(TaskCreated, meter_task_when_created),
]
