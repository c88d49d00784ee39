"""Serves the console's static files and its operator links."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
from litestar import get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from cloudtaskhub.http.auth import requires_admin
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from cloudtaskhub.settings import load_settings
from modules.gateway.console.settings import ConsoleSettings

__all__ = ["STATIC_DIR", "console_handlers"]

STATIC_DIR = Path(__file__).parent / "static"


class OperatorLinks(msgspec.Struct):
    grafana: str | None
    jaeger: str | None
    prometheus: str | None


@get("/console/links.json", tags=["gateway"], summary="Operator links for the console (admins)")
async def operator_links(principal: Principal, runtime: Runtime) -> OperatorLinks:
    requires_admin(principal)
    settings = load_settings(ConsoleSettings, prefix="CTH_CONSOLE_", environ=runtime.environ)
    return OperatorLinks(
        grafana=settings.grafana_url or None,
        jaeger=settings.jaeger_url or None,
        prometheus=settings.prometheus_url or None,
    )


console_handlers: list[Any] = [
    operator_links,
    create_static_files_router(
        path="/console",
        directories=[STATIC_DIR],
        html_mode=True,
        name="console",
        # Files change only with a release; `no-cache` revalidates instead of re-downloading.
        cache_control=CacheControlHeader(no_cache=True),
    ),
]
