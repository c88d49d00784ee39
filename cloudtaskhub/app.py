"""The one app factory: mounts any list of modules into a Litestar app."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from cloudtaskhub.clock import Clock
from cloudtaskhub.events.bus import Bus
from cloudtaskhub.http.auth import provide_principal
from cloudtaskhub.http.middleware import request_context_middleware
from cloudtaskhub.http.module_admin import module_admin_router
from cloudtaskhub.http.operations import operation_handlers
from cloudtaskhub.http.pagination import provide_page_request
from cloudtaskhub.http.problems import exception_handlers
from cloudtaskhub.http.versioning import provide_expected_version
from cloudtaskhub.logging import configure_logging
from cloudtaskhub.module import Module
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.settings import Settings, load_settings
from cloudtaskhub.telemetry import configure_tracing, name_server_span, server_telemetry, service_name_for

__all__ = ["create_app"]


def create_app(
    modules: Sequence[Module],
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    bus: Bus | None = None,
    environ: dict[str, str] | None = None,
) -> Litestar:
    """Build the Litestar app serving `modules`, with their runtime in `app.state.runtime`."""
    settings = settings or load_settings(environ=environ)
    configure_logging(settings)
    configure_tracing(settings, service_name_for([m.name for m in modules], settings))
    runtime = Runtime(modules, settings, clock=clock, bus=bus, environ=environ)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        try:
            with _stop_requested_on_termination(runtime.request_stop):
                yield
        finally:
            await runtime.stop()

    route_handlers = [*operation_handlers]
    for module in modules:
        route_handlers.extend(module.route_handlers)
        route_handlers.extend(module_admin_router(module))

    def provide_runtime() -> Runtime:
        return runtime

    app = Litestar(
        route_handlers=route_handlers,
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        middleware=[server_telemetry(), request_context_middleware, name_server_span],
        dependencies={
            "runtime": Provide(provide_runtime, sync_to_thread=False),
            "principal": Provide(provide_principal, sync_to_thread=False),
            "page": Provide(provide_page_request, sync_to_thread=False),
            "expected_version": Provide(provide_expected_version, sync_to_thread=False),
        },
        openapi_config=OpenAPIConfig(
            title="CloudTaskHub",
            version=settings.version,
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(path="/")],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        cors_config=CORSConfig(allow_origins=list(settings.cors_allow_origins))
        if settings.cors_allow_origins
        else None,
        request_max_body_size=settings.max_request_body_bytes,
        debug=False,
        # Logging is configured once by cloudtaskhub.logging (JSON or text), not by Litestar.
        logging_config=None,
    )
    app.state.runtime = runtime
    return app


@contextmanager
def _stop_requested_on_termination(request_stop: Callable[[], None]) -> Iterator[None]:
    """Tell the runtime at once when SIGTERM/SIGINT arrives, then let the server's own
    handler run: the server drains open connections before the app's shutdown, and
    streams must end for that drain to finish."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    # Only where a server installed its own handler: a default or ignored disposition
    # (no server, or not ours to change) stays as it is.
    previous: dict[int, Callable[[int, FrameType | None], Any]] = {
        signum: handler
        for signum in (signal.SIGINT, signal.SIGTERM)
        if callable(handler := signal.getsignal(signum))
    }

    def chained(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # that loop is closed: an app stopped out of order
            loop.call_soon_threadsafe(request_stop)
        previous[signum](signum, frame)

    for signum in previous:
        signal.signal(signum, chained)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
