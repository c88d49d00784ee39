"""gateway — the front door: API index, live status, the caller's dashboard.

Purpose: compose views for clients from read models the gateway keeps itself,
fed only by events; it never calls another module.

Publishes: nothing (besides the kernel heartbeat). Consumes: `*.heartbeat`
(every module's), building the live topology behind `/api/v1/status`; and for the
dashboard (`/api/v1/dashboard`): `auth.user_registered`,
`billing.subscription_changed`, `project.project_created`, `project_deleted`,
`member_added`, `member_removed`, `task_created`, `task_assigned`,
`task_status_changed`, `task_deleted`, `notification.notification_created`,
`notification_read`.

Terms: *process* — one running OS process; in the all-in-one shape it runs every
module, in the split shape one. *Dashboard* — `{projects: [{id, name}],
open_tasks_assigned, unread_notifications, plan}` for the caller: projects they
belong to (owner or member), tasks assigned to them not done, notifications not
read, and their plan (`free` until billing says otherwise). *Tombstone* — the row
of a deleted project/task kept with `deleted`, so a late event cannot revive it.
"""

from pathlib import Path

from cloudtaskhub.module import Module
from modules.gateway.api import GatewayController
from modules.gateway.console import console_handlers
from modules.gateway.handlers import subscriptions
from modules.gateway.models import GatewayBase

module = Module(
    name="gateway",
    description="API index, live status and the caller's dashboard, from events only",
    route_handlers=[GatewayController, *console_handlers],
    path_prefixes=("/api/v1/dashboard", "/api/v1/status", "/console", "/"),
    metadata=GatewayBase.metadata,
    subscriptions=subscriptions,
    migrations=Path(__file__).parent / "migrations",
)
