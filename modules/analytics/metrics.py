"""Business metrics for Prometheus, read from the projections.

Plain gauges on the default registry (created once, at import), refreshed by a
background task: /metrics never waits on the database for them, and several
runtimes in one process (tests) share the families without registering twice.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client import Gauge

from cloudtaskhub.runtime import ModuleRuntime
from modules.analytics.service import provide_analytics_service

__all__ = ["refresh_business_metrics", "refresh_business_metrics_forever"]

log = logging.getLogger("cloudtaskhub.analytics")

TASKS_CREATED = Gauge(
    "cloudtaskhub_business_tasks_created_total", "Tasks ever created (deleted ones included)"
)
TASKS_COMPLETED = Gauge("cloudtaskhub_business_tasks_completed_total", "Moves of a task to done")
ACTIVE_USERS = Gauge("cloudtaskhub_business_active_users", "Users who did something in the last 7 days")


async def refresh_business_metrics(module: ModuleRuntime) -> None:
    totals = await provide_analytics_service(module).business_totals()
    TASKS_CREATED.set(totals.tasks_created)
    TASKS_COMPLETED.set(totals.tasks_completed)
    ACTIVE_USERS.set(totals.active_users)


async def refresh_business_metrics_forever(module: ModuleRuntime) -> None:
    interval = module.config.metrics_refresh_seconds
    while True:
        try:
            await refresh_business_metrics(module)
        except Exception:  # a database hiccup must not end the refresher
            log.warning("could not refresh business metrics", exc_info=True)
        await asyncio.sleep(interval)
