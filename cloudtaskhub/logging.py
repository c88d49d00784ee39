"""Logging: JSON lines in production, readable lines for `make run`.

A JSON line carries `time`, `level`, `logger`, `module`, `message`, `request_id`
(the correlation id of the request or event being handled) and, inside a span,
`trace_id`/`span_id` — the same ids Jaeger shows, so a log line leads to its
trace. A record may add `fields={...}` (extra) for structured values, and may
carry its own `trace_id`/`span_id`/`request_id` (the access log writes them after
the request's span ended).

In JSON mode uvicorn's loggers and third-party warnings (root logger) go through
the same formatter, so a container's stderr is JSON lines only.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from cloudtaskhub.context import correlation_id
from cloudtaskhub.settings import Settings

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

#: Loggers routed through our handler besides `cloudtaskhub` (JSON mode).
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "module": getattr(record, "cth_module", None) or record.name.split(".")[-1],
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or correlation_id.get(),
        }
        trace_id, span_id = _trace_ids(record)
        if trace_id:
            entry["trace_id"] = trace_id
            entry["span_id"] = span_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """`time level logger: message [request=… trace=…]` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None) or correlation_id.get()
        trace_id, _ = _trace_ids(record)
        tags = [f"request={request_id}"] if request_id else []
        if trace_id:
            tags.append(f"trace={trace_id}")
        if not tags:
            return line
        head, newline, rest = line.partition("\n")  # keep tracebacks below the tagged line
        return f"{head} [{' '.join(tags)}]{newline}{rest}"


def _trace_ids(record: logging.LogRecord) -> tuple[str | None, str | None]:
    trace_id = getattr(record, "trace_id", None)
    if trace_id:
        return trace_id, getattr(record, "span_id", None)
    span = trace.get_current_span().get_span_context()
    if span.is_valid:
        return format(span.trace_id, "032x"), format(span.span_id, "016x")
    return None, None


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at emit time (a test runner swaps it per test)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure_logging(settings: Settings) -> None:
    handler = _StderrHandler()
    handler.set_name("cloudtaskhub")
    json_mode = settings.log_format == "json"
    handler.setFormatter(JsonFormatter() if json_mode else TextFormatter())
    root = logging.getLogger("cloudtaskhub")
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    root.propagate = False
    everything = logging.getLogger()
    # A previous configuration's handler (tests configure many apps) leaves first.
    everything.handlers[:] = [h for h in everything.handlers if h.get_name() != "cloudtaskhub"]
    for name in _SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers[:] = [h for h in server_logger.handlers if h.get_name() != "cloudtaskhub"]
    if json_mode:
        for name in _SERVER_LOGGERS:
            server_logger = logging.getLogger(name)
            server_logger.handlers[:] = [handler]
            server_logger.propagate = False
        # Third-party warnings (SQLAlchemy, aiokafka, OpenTelemetry) as JSON too; other
        # handlers on the root logger (a test runner's capture) stay.
        everything.addHandler(handler)
