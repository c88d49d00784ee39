"""The process's tracer provider and where its spans go.

One global `TracerProvider` per process (OpenTelemetry allows setting it once);
`configure_tracing` may be called again (tests build many apps in one process):
the first call fixes the resource, later calls only re-point the exporter.

Spans leave through a `BatchSpanProcessor` and the OTLP/HTTP exporter: a
background thread exports, so a request never waits on the collector, and an
unreachable collector costs one warning per outage (then spans are dropped,
never queued without bound). With `OTEL_EXPORTER_OTLP_ENDPOINT` unset the
provider is still installed, without an exporter: spans exist, ids reach the
logs, and the trace context still travels in event envelopes, but nothing is
sent. `OTEL_SDK_DISABLED=true` installs nothing (the API's no-op tracer).
The other standard variables (`OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`,
`OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_RESOURCE_ATTRIBUTES`)
are read by the SDK itself.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
)
from opentelemetry.sdk.trace.sampling import (
    _get_from_env_or_default as _sampler_from_environment,
)
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from cloudtaskhub.settings import Settings

__all__ = [
    "configure_tracing",
    "exporting",
    "flush_traces",
    "parent_context",
    "providing",
    "service_name_for",
    "untraced_child",
]

log = logging.getLogger("cloudtaskhub.telemetry")

#: Service name of a process that mounts several modules (all-in-one).
SERVICE = "cloudtaskhub"


def service_name_for(modules: Sequence[str], settings: Settings) -> str:
    """`OTEL_SERVICE_NAME` if set; else `cloudtaskhub-<module>` for one module, `cloudtaskhub`."""
    if settings.otel_service_name:
        return settings.otel_service_name
    if len(modules) == 1:
        return f"{SERVICE}-{modules[0]}"
    return SERVICE


class OperationSampler(Sampler):
    """Traces start at an operation: an HTTP request, a CLI command, a published event.

    A database statement or a consumed message with no span above it — the relay
    polling its outbox, a heartbeat arriving — would otherwise open a one-span
    trace every second per module and bury the traces people look for.
    """

    def __init__(self, delegate: Sampler, exporting: Callable[[], bool] = lambda: True) -> None:
        self._delegate = delegate
        self._exporting = exporting

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if not self._exporting():
            # Nowhere to send spans: do not record them. A dropped span still gets ids,
            # so logs keep their trace_id/span_id and events still carry the context.
            return SamplingResult(Decision.DROP)
        parent = trace.get_current_span(parent_context).get_span_context()
        if not parent.is_valid and kind in (SpanKind.CLIENT, SpanKind.CONSUMER):
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"OperationSampler{{{self._delegate.get_description()}}}"


class _QuietExporter(SpanExporter):
    """Logs one warning when the collector stops answering and one line when it is back."""

    def __init__(self, inner: SpanExporter, endpoint: str) -> None:
        self._inner = inner
        self._endpoint = endpoint
        self._failing = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self._inner.export(spans)
        if result is SpanExportResult.FAILURE and not self._failing:
            self._failing = True
            log.warning("cannot export traces to %s; dropping spans until it answers", self._endpoint)
        elif result is SpanExportResult.SUCCESS and self._failing:
            self._failing = False
            log.info("exporting traces to %s again", self._endpoint)
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


class _Switch(SpanProcessor):
    """Forwards ended spans to the current exporter's batch processor (or nowhere)."""

    def __init__(self) -> None:
        self.endpoint = ""
        self._processor: SpanProcessor | None = None

    def replace(self, endpoint: str, processor: SpanProcessor | None) -> SpanProcessor | None:
        old, self._processor, self.endpoint = self._processor, processor, endpoint
        return old

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        processor = self._processor
        if processor is not None:
            processor.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        processor = self._processor
        if processor is not None:
            processor.on_end(span)

    def shutdown(self) -> None:
        if self._processor is not None:
            self._processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        processor = self._processor
        return processor.force_flush(timeout_millis) if processor is not None else True


class _OutageFilter(logging.Filter):
    """Drops the exporter's per-batch connection complaints: `_QuietExporter` reports outages."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Transient error", "Failed to export"))


_lock = threading.Lock()
_switch: _Switch | None = None
_EXPORTER_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def _default_sampler() -> Sampler:
    try:
        return _sampler_from_environment()
    except Exception:  # a bad OTEL_TRACES_SAMPLER value: the SDK's default, not a crash
        log.warning("ignoring an invalid OTEL_TRACES_SAMPLER setting", exc_info=True)
        return ParentBasedTraceIdRatio(1.0)


def configure_tracing(settings: Settings, service_name: str) -> None:
    """Install the process's tracer provider (once) and point it at the OTLP endpoint."""
    global _switch
    if settings.otel_sdk_disabled:
        return
    with _lock:
        if _switch is None:
            resource = Resource.create(
                {
                    "service.name": service_name,
                    "service.version": settings.version,
                    "deployment.environment.name": settings.env,
                    **({"service.instance.id": settings.process_name} if settings.process_name else {}),
                }
            )
            switch = _Switch()
            provider = TracerProvider(
                resource=resource,
                sampler=OperationSampler(_default_sampler(), exporting=lambda: bool(switch.endpoint)),
            )
            _switch = switch
            provider.add_span_processor(_switch)
            trace.set_tracer_provider(provider)
            logging.getLogger(_EXPORTER_LOGGER).addFilter(_OutageFilter())
        endpoint = settings.otel_exporter_otlp_endpoint.strip().rstrip("/")
        if endpoint == _switch.endpoint:
            return
        processor: SpanProcessor | None = None
        if endpoint:
            exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")
            processor = BatchSpanProcessor(_QuietExporter(exporter, endpoint))
        old = _switch.replace(endpoint, processor)
    if old is not None:
        # Its last batch may wait on a slow collector: never on the caller's thread.
        threading.Thread(target=old.shutdown, name="otel-old-exporter", daemon=True).start()
    log.debug("tracing as %s, exporting to %s", service_name, endpoint or "nowhere")


def providing() -> bool:
    """True once this process installed its tracer provider (not with `OTEL_SDK_DISABLED`)."""
    return _switch is not None


def exporting() -> bool:
    """True while spans have somewhere to go (an OTLP endpoint is configured)."""
    switch = _switch
    return switch is not None and bool(switch.endpoint)


def flush_traces(timeout_seconds: float = 10.0) -> bool:
    """Export every ended span now (tests, CLI commands before exit)."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        return provider.force_flush(int(timeout_seconds * 1000))
    return True


def parent_context(traceparent: str | None, tracestate: str | None) -> otel_context.Context:
    """The W3C trace context carried with an event (outbox row, envelope), as a parent."""
    carrier = {
        name: value for name, value in (("traceparent", traceparent), ("tracestate", tracestate)) if value
    }
    return propagate.extract(carrier)


def untraced_child(traceparent: str | None, tracestate: str | None = None) -> otel_context.Context:
    """A context whose span is a non-recording child of `traceparent` (a new trace without
    one): fresh ids for logs and for the events recorded under it, nothing recorded.

    What the SDK makes of a span its sampler drops, as it does every span while none is
    exported, without the SDK's span machinery: for an event handled, that machinery
    (and the relay's producer span) cost more than the rest of the dispatcher's work.
    """
    trace_id = 0
    trace_state = None
    if traceparent:
        parent = trace.get_current_span(parent_context(traceparent, tracestate)).get_span_context()
        if parent.is_valid:
            trace_id, trace_state = parent.trace_id, parent.trace_state
    span = NonRecordingSpan(
        SpanContext(
            trace_id=trace_id or random.getrandbits(128),
            span_id=random.getrandbits(64),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.DEFAULT),  # not sampled: nothing is exported
            trace_state=trace_state,
        )
    )
    return trace.set_span_in_context(span)
