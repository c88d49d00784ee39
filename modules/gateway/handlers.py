"""Gateway subscribers: they translate events into read-model updates."""

from __future__ import annotations

from cloudtaskhub.events.heartbeat import Heartbeat
from cloudtaskhub.module import HandlerContext, Subscription
from modules.gateway.service import provide_status_service


async def record_topology_from_heartbeat(event: Heartbeat, ctx: HandlerContext) -> None:
    await provide_status_service(ctx.module).record_heartbeat(event)


subscriptions = [Subscription(Heartbeat, record_topology_from_heartbeat)]
