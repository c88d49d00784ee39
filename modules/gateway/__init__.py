"""gateway — the front door: API index, live status, the caller's dashboard.

Purpose: compose views for clients from read models the gateway keeps itself,
fed only by events; it never calls another module.

Publishes: nothing (besides the kernel heartbeat). Consumes: `*.heartbeat`
(every module's), building the live topology behind `/api/v1/status`.

Terms: *process* — one running OS process; in the all-in-one shape it runs every
module, in the split shape one.
"""

from pathlib import Path

from cloudtaskhub.module import Module
from modules.gateway.api import GatewayController
from modules.gateway.handlers import subscriptions
from modules.gateway.models import GatewayBase

module = Module(
    name="gateway",
    description="API index, live status and the caller's dashboard, from events only",
    route_handlers=[GatewayController],
    path_prefixes=("/api/v1/dashboard", "/api/v1/status", "/console", "/"),
    metadata=GatewayBase.metadata,
    subscriptions=subscriptions,
    migrations=Path(__file__).parent / "migrations",
)
