"""Endpoints every process serves: liveness and readiness.

Prometheus metrics are not among them: they are served on a port of their own
(`CTH_METRICS_PORT`, `cloudtaskhub.telemetry.MetricsListener`), which the edge never routes."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get

__all__ = ["operation_handlers"]


@get("/health/live", tags=["operations"], summary="The process is running", sync_to_thread=False)
def live() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready", tags=["operations"], summary="Database and bus are usable")
async def ready(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    runtime = request.app.state.runtime
    checks: dict[str, str] = {}

    async def probe(name: str, coroutine: Any) -> None:
        try:
            await asyncio.wait_for(coroutine, timeout=3)
            checks[name] = "ok"
        except Exception as error:
            checks[name] = f"failing: {type(error).__name__}: {error}"[:300]

    probes = [probe("bus", runtime.bus.check())]
    for module in runtime.modules.values():
        probes.append(probe(f"{module.name}.database", module.check_database()))
        for check in module.module.health_checks:
            probes.append(probe(f"{module.name}.{check.name}", check.check(module)))
    await asyncio.gather(*probes)
    if not runtime.started:
        checks["runtime"] = "starting"
    elif runtime.draining:
        checks["runtime"] = "draining"
    healthy = runtime.started and all(v == "ok" for v in checks.values())
    return Response(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status_code=200 if healthy else 503,
    )


operation_handlers = [live, ready]
