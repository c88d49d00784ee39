"""Project subscribers: they keep the module's read models of other modules' facts."""

from __future__ import annotations

from typing import Any

from cloudtaskhub.module import HandlerContext, Subscription
from modules.auth.contracts import UserRegistered
from modules.billing.contracts import SubscriptionChanged
from modules.project.service import provide_directory_service


async def add_to_directory_when_user_registered(event: UserRegistered, ctx: HandlerContext) -> None:
    await provide_directory_service(ctx.module).record_user(event.user_id, event.email, event.display_name)


async def update_quotas_when_subscription_changed(event: SubscriptionChanged, ctx: HandlerContext) -> None:
    await provide_directory_service(ctx.module).record_plan_limits(
        event.user_id,
        event.plan,
        event.limits,
        event.period_end,
        ctx.envelope.time,
    )


subscriptions: list[Subscription[Any]] = [
    Subscription(UserRegistered, add_to_directory_when_user_registered),
    Subscription(SubscriptionChanged, update_quotas_when_subscription_changed),
]
