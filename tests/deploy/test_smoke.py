"""deploy/smoke.py passes a correctly routed deployment and names what a broken one lacks."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType

import pytest
from stackfile import ROOT

HEALTHY = {
    "/health/ready": (200, {"status": "ok"}),
    "/": (200, {"name": "CloudTaskHub", "version": "1.2.3"}),
    "/api/v1/auth/jwks": (200, {"keys": []}),
    "/metrics": (403, None),
}


def load_smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke", ROOT / "deploy" / "smoke.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


def serve(answers: dict[str, tuple[int, object]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            default = (401, {"title": "Unauthorized"}) if self.path.startswith("/api/") else None
            status, body = answers.get(self.path, default or (404, None))
            payload = json.dumps(body).encode() if body is not None else b"404 page not found"
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body else "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def healthy_url() -> Iterator[str]:
    yield from serve(HEALTHY)


@pytest.fixture
def billing_unrouted_url() -> Iterator[str]:
    yield from serve({**HEALTHY, "/api/v1/billing/subscription": (404, None)})


def test_a_correctly_routed_deployment_passes(healthy_url: str) -> None:
    smoke = load_smoke()

    passed = smoke.run(healthy_url, edge=True, insecure=False, timeout=5, interval=0.1)

    assert passed


def test_a_module_without_a_route_fails_and_is_named(
    billing_unrouted_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    smoke = load_smoke()

    passed = smoke.run(billing_unrouted_url, edge=False, insecure=False, timeout=0.3, interval=0.1)

    assert not passed
    assert "FAIL  billing      GET /api/v1/billing/subscription" in capsys.readouterr().out
