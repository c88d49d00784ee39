"""Analytics subscribers: every consumed event is logged and projected."""

from __future__ import annotations

from typing import Any

from cloudtaskhub.events.contract import Event
from cloudtaskhub.module import HandlerContext, Subscription
from modules.analytics.projections import CONSUMED_EVENTS
from modules.analytics.service import provide_analytics_service


async def log_and_project_event(event: Event, ctx: HandlerContext) -> None:
    await provide_analytics_service(ctx.module).record(ctx.envelope, event)


subscriptions: list[Subscription[Any]] = [
    Subscription(contract, log_and_project_event) for contract in CONSUMED_EVENTS
]
