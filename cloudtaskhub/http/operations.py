"""Endpoints every process serves: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

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


@get("/metrics", tags=["operations"], summary="Prometheus exposition", media_type=CONTENT_TYPE_LATEST)
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    runtime = request.app.state.runtime
    for module in runtime.modules.values():
        await module.outbox_status()  # refreshes the backlog gauges
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


operation_handlers = [live, ready, metrics]
