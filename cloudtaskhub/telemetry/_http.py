"""HTTP server spans, request metrics and access log lines.

Litestar's OpenTelemetry plugin wraps the whole app (outside routing), so its
server span and our metrics also cover requests no route matched. Labels use the
route template (`/api/v1/tasks/{task_id}`), never the raw path; routing fills
`scope["path_template"]` in the same scope dict, so it is read after the call.
Probes and scrapes (`/metrics`, `/health/*`) are neither traced, counted nor logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from litestar.enums import ScopeType
from litestar.middleware.base import DefineMiddleware
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryInstrumentationMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace

from cloudtaskhub.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS, HTTP_REQUESTS_IN_PROGRESS

__all__ = ["UNMATCHED_ROUTE", "name_server_span", "server_telemetry"]

access_log = logging.getLogger("cloudtaskhub.http.access")

#: Route label of requests no route serves (scanners, typos): one series, not one per path.
UNMATCHED_ROUTE = "<unmatched>"
#: Paths excluded from spans, metrics and the access log.
UNOBSERVED = ["^/metrics$", "^/health/"]
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span starts before routing: named by method; `name_server_span` adds the route."""
    return str(scope.get("method", "HTTP")), {}


class InstrumentedMiddleware(OpenTelemetryInstrumentationMiddleware):
    """The plugin's server span, plus request metrics and one access log line."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await super().__call__(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        started = time.perf_counter()
        answered: dict[str, Any] = {"status": 500, "seconds": None}

        async def observing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered["status"] = message["status"]
                answered["seconds"] = time.perf_counter() - started
                answered["request_id"] = _header(message, b"x-request-id")
                span = trace.get_current_span().get_span_context()
                if span.is_valid:
                    answered["trace_id"] = format(span.trace_id, "032x")
                    answered["span_id"] = format(span.span_id, "016x")
            await send(message)

        in_progress = HTTP_REQUESTS_IN_PROGRESS.labels(method)
        in_progress.inc()
        try:
            await super().__call__(scope, receive, observing_send)
        finally:
            in_progress.dec()
            route = scope.get("path_template") or UNMATCHED_ROUTE
            status = str(answered["status"])
            seconds = answered["seconds"]
            if seconds is None:  # no response started: the client went away, or a crash
                seconds = time.perf_counter() - started
            HTTP_REQUESTS.labels(method, route, status).inc()
            HTTP_REQUEST_DURATION.labels(method, route).observe(seconds)
            access_log.info(
                "%s %s %s %.1fms",
                method,
                route,
                status,
                seconds * 1000,
                extra={
                    "fields": {
                        "http.method": method,
                        "http.route": route,
                        "http.status": int(status),
                        "duration_ms": round(seconds * 1000, 2),
                    },
                    "trace_id": answered.get("trace_id"),
                    "span_id": answered.get("span_id"),
                    "request_id": answered.get("request_id"),
                },
            )


def _header(message: Message, name: bytes) -> str | None:
    headers: Any = message.get("headers", ())
    for key, value in headers:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def server_telemetry() -> DefineMiddleware:
    """The OpenTelemetry plugin's middleware, with our metrics; list it in `middleware=`.

    Litestar lifts it out of the route stack into an `OpenTelemetryPlugin` that wraps
    the whole app, so it sees every request, routed or not.
    """
    return OpenTelemetryConfig(
        middleware_class=InstrumentedMiddleware,
        scope_span_details_extractor=_span_details,
        exclude=UNOBSERVED,
        exclude_spans=["receive", "send"],
    ).middleware


def name_server_span(app: ASGIApp) -> ASGIApp:
    """Route-level middleware: name the server span `METHOD /route/{template}`.

    It runs after routing, inside the server span the plugin made current.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        route = scope.get("path_template")
        span = trace.get_current_span()
        if route and span.is_recording():
            span.update_name(f"{scope.get('method', scope['type'])} {route}")
            span.set_attribute("http.route", route)
        await app(scope, receive, send)

    return middleware
