"""Database spans: SQLAlchemy's cursor events on each engine the runtime opened."""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.semconv.metrics import MetricInstruments
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudtaskhub.telemetry._tracing import exporting

__all__ = ["instrument_engines"]


class _EngineTracer(EngineTracer):
    """OpenTelemetry's SQLAlchemy tracer, idle while no span can be exported.

    Without an exporter every span is dropped by the sampler anyway, yet the stock
    listener still reads the URL and cursor attributes, names the operation and
    starts a (non-recording) span for each statement: tens of microseconds a
    statement, on every statement of the event pipeline too. It now returns at once
    then; a statement inside a recorded span still gets its child span as before.
    """

    def _before_cur_exec(self, *arguments: Any) -> Any:
        if not exporting():
            _, _, statement, params, _, _ = arguments
            return statement, params
        return super()._before_cur_exec(*arguments)  # type: ignore[no-untyped-call]


#: Engines already carrying the listeners: instrumenting twice would double every span.
_instrumented: weakref.WeakSet[Engine] = weakref.WeakSet()


def instrument_engines(engines: Iterable[AsyncEngine | Engine]) -> None:
    """Trace every statement the engines run, as children of the current span.

    `SQLAlchemyInstrumentor().instrument()` works once per process, and this process
    opens engines per runtime, so the engine-level tracer is attached directly.
    Statements outside any operation (relay polling) are dropped by the sampler.
    """
    for engine in engines:
        sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        if sync_engine in _instrumented:
            continue
        _EngineTracer(  # type: ignore[no-untyped-call]
            trace.get_tracer("opentelemetry.instrumentation.sqlalchemy"),
            sync_engine,
            metrics.get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
                name=MetricInstruments.DB_CLIENT_CONNECTIONS_USAGE, unit="connections"
            ),
        )
        _instrumented.add(sync_engine)
