"""notification — in-app notifications, a live stream, and signed webhooks.

Purpose: turn facts from other modules into notifications for the people they
concern; let users list them and mark them read; push new ones live over
Server-Sent Events; and POST the causing events to users' webhooks, signed,
with retries.

Publishes: `notification.notification_created`, `notification.notification_read`
(one per notification marked read, also for read-all).
Consumes: `project.task_assigned` (the assignee), `project.task_status_changed`
(to done: the project owner and the task creator, not whoever did it),
`project.member_added` (the added user), `billing.invoice_issued` and
`billing.subscription_changed` (the user; not for the first free plan or a
renewal), plus `project.project_created` / `project.task_created` to word and
address them.

Terms: *kind* — task_assigned, task_done, member_added, invoice_issued,
plan_changed; webhooks subscribe to kinds and receive the CloudEvent that caused
the notification. *Delivery* — one event for one webhook; *attempt* — one POST
of it. No one is notified of what they did themselves (self-assignment included).
"""

from pathlib import Path

from cloudtaskhub.module import BackgroundTask, Module
from modules.notification.api import NotificationController
from modules.notification.contracts import NotificationCreated, NotificationRead
from modules.notification.handlers import subscriptions
from modules.notification.models import NotificationBase
from modules.notification.settings import NotificationSettings
from modules.notification.webhooks import deliver_webhooks

module = Module(
    name="notification",
    description="In-app notifications, live stream and signed webhooks",
    route_handlers=[NotificationController],
    path_prefixes=("/api/v1/notifications",),
    metadata=NotificationBase.metadata,
    publishes=[NotificationCreated, NotificationRead],
    subscriptions=subscriptions,
    background_tasks=[BackgroundTask("webhook-deliveries", deliver_webhooks)],
    settings=NotificationSettings,
    migrations=Path(__file__).parent / "migrations",
)
