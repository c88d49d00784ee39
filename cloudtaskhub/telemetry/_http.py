"""Request metrics, access log lines, request ids, security headers and — only when
spans are exported — HTTP server spans: one pure-ASGI middleware, `RequestEdge`.

It wraps the whole Litestar app (outside routing), so it also sees requests no
route matched (labelled `<unmatched>`) and CORS preflights. Labels use the route
template (`/api/v1/tasks/{task_id}`), never the raw path; routing fills
`scope["path_template"]` in the same scope dict, so it is read after the call.
Probes (`/health/*`) are neither traced, counted nor logged. Metrics are scraped on
another listener; a request for `/metrics` here is a stranger's, counted as unmatched.

Tracing costs only when it is used. With an OTLP endpoint configured, requests go
through OpenTelemetry's ASGI middleware (a server span per request, named by route
once routing is done). Without one, no span is recorded anywhere; the edge only
puts a non-recording span with fresh ids (or the caller's trace id from an incoming
`traceparent`) in the context — a few microseconds — so log lines still carry a
`trace_id`/`span_id` and the events a request records still carry its trace
context, as they did when the SDK made (and dropped) a span per request.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Send
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

from cloudtaskhub.context import correlation_id
from cloudtaskhub.metrics import HTTP_REQUEST_DURATION, HTTP_REQUESTS, HTTP_REQUESTS_IN_PROGRESS
from cloudtaskhub.telemetry._tracing import exporting, providing, untraced_child

__all__ = ["SECURITY_HEADERS", "UNMATCHED_ROUTE", "RequestEdge"]

#: An ASGI scope as this module reads it (HTTP only; Litestar's TypedDicts split HTTP
#: and WebSocket scopes, and OpenTelemetry's middleware takes plain mappings).
Scope = Any

access_log = logging.getLogger("cloudtaskhub.http.access")

#: Route label of requests no route serves (scanners, typos): one series, not one per path.
UNMATCHED_ROUTE = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: Added to every response that does not set them itself.
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "cache-control": "no-store",
}
_SECURITY = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


def _unobserved(path: str) -> bool:
    return path.startswith("/health/")


class _Series:
    """Labelled metric children, looked up once per label set (prometheus_client's
    `labels()` takes a lock and builds a key on every call)."""

    def __init__(self) -> None:
        self._in_progress: dict[str, Any] = {}
        self._requests: dict[tuple[str, str, str], Any] = {}
        self._durations: dict[tuple[str, str], Any] = {}

    def in_progress(self, method: str) -> Any:
        child = self._in_progress.get(method)
        if child is None:
            child = self._in_progress[method] = HTTP_REQUESTS_IN_PROGRESS.labels(method)
        return child

    def answered(self, method: str, route: str, status: str, seconds: float) -> None:
        key = (method, route, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = HTTP_REQUESTS.labels(method, route, status)
        counter.inc()
        histogram = self._durations.get((method, route))
        if histogram is None:
            histogram = self._durations[(method, route)] = HTTP_REQUEST_DURATION.labels(method, route)
        histogram.observe(seconds)


#: Shared by every app of the process, as the metric families are.
_series = _Series()


def _span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The span starts before routing: named by method; `_SpanNamer` adds the route."""
    return str(scope.get("method", "HTTP")), {}


class _SpanNamer:
    """Inside the server span: name it `METHOD /route/{template}` once routing is done."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def naming_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("path_template")
                span = trace.get_current_span()
                if route and span.is_recording():
                    span.update_name(f"{scope.get('method', scope['type'])} {route}")
                    span.set_attribute("http.route", route)
            await send(message)

        await self.app(scope, receive, naming_send)


def _untraced_context(traceparent: bytes | None) -> object:
    """Attach a non-recording span: ids for logs and events, nothing recorded or sent."""
    return otel_context.attach(untraced_child(None if traceparent is None else traceparent.decode("latin-1")))


class RequestEdge:
    """The one middleware of the request path (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app: Any = app
        self.traced_app: Any = OpenTelemetryMiddleware(
            _SpanNamer(app), default_span_details=_span_details, exclude_spans=["receive", "send"]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        traceparent: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
            elif name == b"traceparent":
                traceparent = value
        if not 0 < len(request_id) <= 100:
            # 128 random bits as 32 hex digits, like a uuid4's hex without its os.urandom
            # call (5 µs here, against 0.6): an id to correlate by, not a secret.
            request_id = f"{random.getrandbits(128):032x}"
        request_id_header = (b"x-request-id", request_id.encode("latin-1"))
        token = correlation_id.set(request_id)
        observed = not _unobserved(scope["path"])
        logging_access = observed and access_log.isEnabledFor(logging.INFO)
        answered: dict[str, Any] = {}

        async def edge_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or ())
                present = {bytes(name).lower() for name, _ in headers}
                headers.append(request_id_header)
                headers.extend(header for header in _SECURITY if header[0] not in present)
                message["headers"] = headers
                answered["status"] = message["status"]
                answered["seconds"] = time.perf_counter() - started
                if logging_access:
                    span = trace.get_current_span().get_span_context()
                    if span.is_valid:
                        answered["trace_id"] = format(span.trace_id, "032x")
                        answered["span_id"] = format(span.span_id, "016x")
            await send(message)

        started = time.perf_counter()
        try:
            if not observed:
                await self.app(scope, receive, edge_send)
                return
            if exporting():
                await self._observe(self.traced_app, scope, receive, edge_send, answered, started)
                return
            attached = _untraced_context(traceparent) if providing() else None
            try:
                await self._observe(self.app, scope, receive, edge_send, answered, started)
            finally:
                if attached is not None:
                    otel_context.detach(attached)  # type: ignore[arg-type]
        finally:
            correlation_id.reset(token)
            if logging_access:
                self._log(scope, answered, request_id)

    async def _observe(
        self,
        app: ASGIApp,
        scope: Scope,
        receive: Receive,
        send: Send,
        answered: dict[str, Any],
        started: float,
    ) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        in_progress = _series.in_progress(method)
        in_progress.inc()
        try:
            await app(scope, receive, send)
        finally:
            in_progress.dec()
            seconds = answered.get("seconds")
            if seconds is None:  # no response started: the client went away, or a crash
                seconds = answered["seconds"] = time.perf_counter() - started
            route = scope.get("path_template") or UNMATCHED_ROUTE
            _series.answered(method, route, str(answered.get("status", 500)), seconds)

    @staticmethod
    def _log(scope: Scope, answered: dict[str, Any], request_id: str) -> None:
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        route = scope.get("path_template") or UNMATCHED_ROUTE
        status = int(answered.get("status", 500))
        seconds = float(answered.get("seconds") or 0.0)
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
                    "http.status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
                "trace_id": answered.get("trace_id"),
                "span_id": answered.get("span_id"),
                "request_id": request_id,
            },
        )
