"""Carrying a trace across a hop that is neither HTTP nor the bus (a row a later
reader picks up, e.g. a notification pushed on a live stream)."""

from __future__ import annotations

from opentelemetry import propagate, trace
from opentelemetry.util.types import Attributes

__all__ = ["current_traceparent", "mark_hop"]

_tracer = trace.get_tracer("cloudtaskhub.hops")


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to store beside what it produced."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def mark_hop(name: str, traceparent: str | None, attributes: Attributes = None) -> None:
    """Record a span for a moment (a push, a delivery), child of the stored context."""
    parent = propagate.extract({"traceparent": traceparent} if traceparent else {})
    _tracer.start_span(name, context=parent, kind=trace.SpanKind.PRODUCER, attributes=attributes).end()
