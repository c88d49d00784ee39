"""Traces, request metrics and access logs for a CloudTaskHub process.

- `configure_tracing(settings, service_name)`: the process's tracer provider and
  OTLP exporter (`OTEL_*` variables); idempotent, several apps may call it.
- `RequestEdge(app)`: the one middleware of the request path — request id,
  security headers, `cloudtaskhub_http_*` metrics by route template, one access
  log line per request, and HTTP server spans only while spans are exported.
- `MetricsListener`: Prometheus exposition on its own port (`CTH_METRICS_PORT`),
  never on the app's.
- `instrument_engines(engines)`: a span per SQL statement.
- `current_traceparent()`, `mark_hop(name, traceparent)`: keep a trace going across
  a stored hop (the notification pushed on a live stream belongs to the request
  that caused it).

The event bus carries the trace on its own: `Transaction.record` stores the
current `traceparent` with the outbox row, the relay opens a PRODUCER span per
event and puts its context in the envelope, the dispatcher opens a CONSUMER span
per handler attempt from it — so one trace runs from a request to every handler,
on either bus and across processes. While no span is exported, neither opens one
(the SDK would make and drop it, several times a consumer's other work per event):
the envelope carries the request's context and a handler runs under a
non-recording child of it (`untraced_child`), so logs and events keep the trace.
"""

from cloudtaskhub.telemetry._database import instrument_engines
from cloudtaskhub.telemetry._exposition import MetricsListener
from cloudtaskhub.telemetry._hops import current_traceparent, mark_hop
from cloudtaskhub.telemetry._http import SECURITY_HEADERS, UNMATCHED_ROUTE, RequestEdge
from cloudtaskhub.telemetry._tracing import (
    configure_tracing,
    flush_traces,
    service_name_for,
)

__all__ = [
    "SECURITY_HEADERS",
    "UNMATCHED_ROUTE",
    "MetricsListener",
    "RequestEdge",
    "configure_tracing",
    "current_traceparent",
    "flush_traces",
    "instrument_engines",
    "mark_hop",
    "service_name_for",
]
