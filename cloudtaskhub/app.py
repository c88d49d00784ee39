"""The one app factory: mounts any list of modules into a Litestar app."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from types import FrameType
from typing import Any

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide

from cloudtaskhub.allocator import limit_malloc_arenas
from cloudtaskhub.clock import Clock
from cloudtaskhub.events.bus import Bus
from cloudtaskhub.http.auth import provide_principal
from cloudtaskhub.http.bodies import BoundedRequest
from cloudtaskhub.http.dependencies import install as resolve_plain_dependencies_in_order
from cloudtaskhub.http.elsewhere import elsewhere_handlers
from cloudtaskhub.http.module_admin import module_admin_router
from cloudtaskhub.http.openapi import openapi_config
from cloudtaskhub.http.operations import operation_handlers
from cloudtaskhub.http.pagination import provide_page_request
from cloudtaskhub.http.problems import exception_handlers
from cloudtaskhub.http.versioning import provide_expected_version
from cloudtaskhub.logging import configure_logging
from cloudtaskhub.module import Module
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.settings import Settings, load_settings
from cloudtaskhub.telemetry import RequestEdge, configure_tracing, service_name_for

__all__ = ["create_app"]


def create_app(
    modules: Sequence[Module],
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    bus: Bus | None = None,
    environ: dict[str, str] | None = None,
    public_modules: Sequence[Module] | None = None,
) -> Litestar:
    """Build the Litestar app serving `modules`, with their runtime in `app.state.runtime`.

    `public_modules` are every module of the deployment (default: `modules`): `/schema`
    describes their whole API whichever of them this process mounts, so a client sees
    the same document in every shape (see `cloudtaskhub.http.openapi`).
    """
    settings = settings or load_settings(environ=environ)
    # Before the runtime starts its database worker threads, each of which would get an arena.
    limit_malloc_arenas(settings.malloc_arena_max)
    resolve_plain_dependencies_in_order()
    public_document = _public_document(modules, public_modules, settings)
    configure_logging(settings)
    configure_tracing(settings, service_name_for([m.name for m in modules], settings))
    runtime = Runtime(modules, settings, clock=clock, bus=bus, environ=environ)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await runtime.start()
        try:
            with _stop_requested_on_termination(
                runtime.request_stop, runtime.start_draining, settings.shutdown_drain_seconds
            ):
                yield
        finally:
            await runtime.stop()

    app = Litestar(
        route_handlers=[*_route_handlers(modules), *elsewhere_handlers(modules, public_modules or modules)],
        lifespan=[lifespan],
        exception_handlers=exception_handlers,
        dependencies=_dependencies(runtime),
        openapi_config=openapi_config(settings, public_document),
        cors_config=CORSConfig(allow_origins=list(settings.cors_allow_origins))
        if settings.cors_allow_origins
        else None,
        request_max_body_size=settings.max_request_body_bytes,
        request_class=BoundedRequest,
        debug=False,
        # Logging is configured once by cloudtaskhub.logging (JSON or text), not by Litestar.
        logging_config=None,
    )
    app.state.runtime = runtime
    # Outside routing, CORS and the exception handler: it sees every request and answer.
    app.asgi_handler = RequestEdge(app.asgi_handler)
    return app


def _route_handlers(modules: Sequence[Module]) -> list[Any]:
    route_handlers: list[Any] = [*operation_handlers]
    for module in modules:
        route_handlers.extend(module.route_handlers)
        route_handlers.extend(module_admin_router(module))
    return route_handlers


def _dependencies(runtime: Runtime | None) -> dict[str, Provide]:
    def provide_runtime() -> Runtime:
        if runtime is None:  # the app that only describes the public API is never served
            raise RuntimeError("no runtime")
        return runtime

    return {
        "runtime": Provide(provide_runtime, sync_to_thread=False),
        "principal": Provide(provide_principal, sync_to_thread=False),
        "page": Provide(provide_page_request, sync_to_thread=False),
        "expected_version": Provide(provide_expected_version, sync_to_thread=False),
    }


def _public_document(
    modules: Sequence[Module], public_modules: Sequence[Module] | None, settings: Settings
) -> Callable[[], dict[str, Any]] | None:
    """The OpenAPI document of an app mounting `public_modules`, or None when that is
    this app (it then serves its own).

    Built on the first request for it and kept, as Litestar builds an app's own
    document: a process that is never asked pays nothing at start (the split shape
    starts six, and restarts them often in tests).
    """
    if public_modules is None:
        return None
    public = {m.name for m in public_modules}
    mounted = {m.name for m in modules}
    if not mounted <= public:
        raise ValueError(f"mounted module(s) {', '.join(sorted(mounted - public))} not among the public ones")
    if mounted == public:
        return None

    @functools.cache
    def document() -> dict[str, Any]:
        describing = Litestar(
            route_handlers=_route_handlers(public_modules),
            dependencies=_dependencies(None),
            openapi_config=openapi_config(settings),
            debug=False,
            logging_config=None,
        )
        return describing.openapi_schema.to_schema()

    return document


@contextmanager
def _stop_requested_on_termination(
    request_stop: Callable[[], None],
    start_draining: Callable[[], None] | None = None,
    drain_seconds: float = 0.0,
) -> Iterator[None]:
    """Tell the runtime at once when SIGTERM/SIGINT arrives, then let the server's own
    handler run: the server drains open connections before the app's shutdown, and
    streams must end for that drain to finish.

    With `drain_seconds`, SIGTERM first starts a drain: the process keeps serving
    (readiness answers 503) while the edge notices the task is going, and only then do
    the runtime and the server hear of it. A second signal, or SIGINT, stops at once."""
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
    drain: list[asyncio.TimerHandle] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(RuntimeError):  # that loop is closed: an app stopped out of order
            loop.call_soon_threadsafe(request_stop)
        previous[signum](signum, frame)

    def chained(signum: int, frame: FrameType | None) -> None:
        if drain:  # a second signal during the drain: stop now
            drain.pop().cancel()
        elif signum == signal.SIGTERM and drain_seconds > 0 and start_draining is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(start_draining)
                drain.append(loop.call_later(drain_seconds, stop, signum, None))
                return
        stop(signum, frame)

    for signum in previous:
        signal.signal(signum, chained)
    try:
        yield
    finally:
        for handle in drain:
            handle.cancel()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
