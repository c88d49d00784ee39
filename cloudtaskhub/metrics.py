"""Prometheus metric families the kernel exports. Labels stay low-cardinality:
module, event type, route template, status — never user ids or raw paths."""

from __future__ import annotations

from typing import Any, TypeVar

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

__all__ = [
    "CONSUMER_LAG",
    "DB_LOOP_READS_MOVED",
    "DEAD_LETTERS",
    "EVENTS_DEAD_LETTERED",
    "EVENTS_FAILED",
    "EVENTS_HANDLED",
    "EVENTS_PUBLISHED",
    "EVENTS_RETRIED",
    "EVENTS_SKIPPED",
    "EVENT_BATCH_SIZE",
    "HANDLER_LATENCY",
    "HTTP_REQUESTS",
    "HTTP_REQUESTS_IN_PROGRESS",
    "HTTP_REQUEST_DURATION",
    "OUTBOX_BACKLOG",
    "OUTBOX_OLDEST_AGE",
    "labelled",
]

EVENTS_PUBLISHED = Counter(
    "cloudtaskhub_events_published_total", "Events handed to the bus", ["module", "type"]
)
EVENTS_HANDLED = Counter(
    "cloudtaskhub_events_handled_total", "Events whose handler committed", ["module", "type"]
)
EVENTS_FAILED = Counter(
    "cloudtaskhub_events_failed_total", "Handler attempts that raised", ["module", "type"]
)
EVENTS_RETRIED = Counter(
    "cloudtaskhub_events_retried_total", "Handler attempts scheduled again", ["module", "type"]
)
EVENTS_DEAD_LETTERED = Counter(
    "cloudtaskhub_events_dead_lettered_total", "Events moved to the dead letters", ["module", "type"]
)
EVENTS_SKIPPED = Counter(
    "cloudtaskhub_events_skipped_total",
    "Events not handled: duplicate delivery or a type this consumer does not know",
    ["module", "reason"],
)
HANDLER_LATENCY = Histogram(
    "cloudtaskhub_event_handler_seconds",
    "Time from handler start to commit",
    ["module", "type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENT_BATCH_SIZE = Histogram(
    "cloudtaskhub_event_batch_size",
    "Events a consumer took in one batch (one transaction, a savepoint per event)",
    ["module"],
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
OUTBOX_BACKLOG = Gauge("cloudtaskhub_outbox_backlog", "Outbox rows not yet handed to the bus", ["module"])
OUTBOX_OLDEST_AGE = Gauge(
    "cloudtaskhub_outbox_oldest_pending_seconds", "Age of the oldest pending outbox row", ["module"]
)
CONSUMER_LAG = Gauge(
    "cloudtaskhub_consumer_lag",
    "Records of a partition not yet settled by the consuming module (Kafka bus)",
    ["module", "topic", "partition"],
)

DEAD_LETTERS = Gauge(
    "cloudtaskhub_dead_letters",
    "Dead letters a module holds and has not replayed (refreshed with each heartbeat)",
    ["module"],
)

HTTP_REQUESTS = Counter(
    "cloudtaskhub_http_requests_total",
    "HTTP requests answered, by route template (`<unmatched>` for paths no route serves)",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "cloudtaskhub_http_request_duration_seconds",
    "Time from request to response headers (a stream's lifetime is not latency)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
HTTP_REQUESTS_IN_PROGRESS = Gauge(
    "cloudtaskhub_http_requests_in_progress", "HTTP requests being served (streams included)", ["method"]
)
DB_LOOP_READS_MOVED = Counter(
    "cloudtaskhub_db_loop_reads_moved_total",
    "SQLite reads moved off the event loop: over the loop's time budget (slow) or the file was locked (busy)",
    ["reason"],
)

_Metric = TypeVar("_Metric", bound=MetricWrapperBase)
_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def labelled(metric: _Metric, *values: str) -> _Metric:
    """`metric.labels(*values)`, kept for the next call.

    The relay and the consumers count every event: `labels()` validates the values and
    takes a lock to find the child each time, about 1.7 µs, three times an event.
    Kept as long as the metric keeps the child itself (for good: labels are few).
    """
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child
