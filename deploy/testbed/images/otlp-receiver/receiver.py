"""OTLP/HTTP trace receiver that keeps spans for tests to read (the test bed's Jaeger).

POST /v1/traces on :4318 (protobuf or JSON-less protobuf only, as the SDK's exporter
sends), GET /api/services and /api/traces?service=NAME&limit=N on :16686, answering in
the shape of Jaeger's query API ({"data": [...]}) so a client of one reads the other.
"""

from __future__ import annotations

import collections
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

KEEP = 20_000
spans: collections.deque[dict[str, object]] = collections.deque(maxlen=KEEP)
lock = threading.Lock()


def _service(resource: object) -> str:
    for attribute in resource.attributes:  # type: ignore[attr-defined]
        if attribute.key == "service.name":
            return str(attribute.value.string_value)
    return "unknown"


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        if urlparse(self.path).path != "/v1/traces":
            self.send_error(404)
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        received = []
        for resource_spans in request.resource_spans:
            service = _service(resource_spans.resource)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        {
                            "traceID": span.trace_id.hex(),
                            "spanID": span.span_id.hex(),
                            "operationName": span.name,
                            "service": service,
                            "startTime": span.start_time_unix_nano // 1000,
                            "duration": (span.end_time_unix_nano - span.start_time_unix_nano) // 1000,
                        }
                    )
        with lock:
            spans.extend(received)
        body = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        with lock:
            kept = list(spans)
        if url.path == "/api/services":
            data: object = sorted({str(s["service"]) for s in kept})
        elif url.path == "/api/traces":
            service = query.get("service", [""])[0]
            limit = int(query.get("limit", ["20"])[0])
            traces: dict[str, list[dict[str, object]]] = {}
            for span in reversed(kept):
                if span["service"] == service or str(span["traceID"]) in traces:
                    traces.setdefault(str(span["traceID"]), []).append(span)
            data = [{"traceID": t, "spans": s} for t, s in list(traces.items())[:limit]]
        elif url.path == "/":
            data = {"spans": len(kept)}
        else:
            self.send_error(404)
            return
        body = json.dumps({"data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per export would drown the service's log


if __name__ == "__main__":
    query = ThreadingHTTPServer(("0.0.0.0", 16686), Receiver)
    threading.Thread(target=query.serve_forever, daemon=True).start()
    ThreadingHTTPServer(("0.0.0.0", 4318), Receiver).serve_forever()
