"""Notification subscribers: each turns one fact into notifications for the people concerned."""

from __future__ import annotations

from cloudtaskhub.module import HandlerContext, Subscription
from modules.auth.contracts import SessionEnded
from modules.billing.contracts import InvoiceIssued, SubscriptionChanged
from modules.notification.service import Cause, provide_notification_service
from modules.project.contracts import (
    MemberAdded,
    ProjectCreated,
    TaskAssigned,
    TaskCreated,
    TaskStatusChanged,
)


def _cause(ctx: HandlerContext) -> Cause:
    return Cause(ctx.envelope.id, ctx.envelope.type, ctx.envelope.encode().decode())


async def remember_project_when_created(event: ProjectCreated, ctx: HandlerContext) -> None:
    await provide_notification_service(ctx.module).remember_project(
        event.project_id, event.owner_id, event.name
    )


async def remember_task_when_created(event: TaskCreated, ctx: HandlerContext) -> None:
    await provide_notification_service(ctx.module).remember_task(
        event.task_id, event.project_id, event.creator_id, event.title
    )


async def notify_assignee_when_task_assigned(event: TaskAssigned, ctx: HandlerContext) -> None:
    await provide_notification_service(ctx.module).notify_task_assigned(
        event.task_id, event.assignee_id, event.assigned_by, _cause(ctx)
    )


async def notify_owner_and_creator_when_task_done(event: TaskStatusChanged, ctx: HandlerContext) -> None:
    if event.new != "done" or event.old == "done":
        return
    await provide_notification_service(ctx.module).notify_task_done(
        event.task_id, event.project_id, event.changed_by, event.creator_id, event.owner_id, _cause(ctx)
    )


async def notify_member_when_added(event: MemberAdded, ctx: HandlerContext) -> None:
    await provide_notification_service(ctx.module).notify_member_added(
        event.project_id, event.user_id, event.role, _cause(ctx)
    )


async def notify_user_when_invoice_issued(event: InvoiceIssued, ctx: HandlerContext) -> None:
    await provide_notification_service(ctx.module).notify_invoice_issued(
        event.invoice_id, event.user_id, event.number, event.total_cents, event.currency, _cause(ctx)
    )


async def notify_user_when_plan_changed(event: SubscriptionChanged, ctx: HandlerContext) -> None:
    await provide_notification_service(ctx.module).notify_plan_changed(
        event.user_id, event.subscription_id or event.user_id, event.previous_plan, event.plan, _cause(ctx)
    )


async def end_streams_when_session_ended(event: SessionEnded, ctx: HandlerContext) -> None:
    await provide_notification_service(ctx.module).end_session(event.user_id, event.session_id)


subscriptions = [
    Subscription(ProjectCreated, remember_project_when_created),
    Subscription(TaskCreated, remember_task_when_created),
    Subscription(TaskAssigned, notify_assignee_when_task_assigned),
    Subscription(TaskStatusChanged, notify_owner_and_creator_when_task_done),
    Subscription(MemberAdded, notify_member_when_added),
    Subscription(InvoiceIssued, notify_user_when_invoice_issued),
    Subscription(SubscriptionChanged, notify_user_when_plan_changed),
    Subscription(SessionEnded, end_streams_when_session_ended),
]
