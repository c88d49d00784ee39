"""Prometheus metrics live on a port of their own: the app's port (the one the edge
routes) has no /metrics, so no path trick a proxy lets through can reach them."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.security.conftest import Server

#: Spellings of /metrics that proxies and routers have been fooled by: a trailing
#: slash, doubled slashes, dot segments, percent-encoding (of letters, dots, slashes),
#: case, parameters and queries.
TRICKS = [
    "/metrics",
    "/metrics/",
    "//metrics",
    "///metrics",
    "/./metrics",
    "/api/../metrics",
    "/api/v1/../../metrics",
    "/api/%2e%2e/metrics",
    "/api/v1/%2E%2E/%2E%2E/metrics",
    "/%6detrics",
    "/%6D%65%74%72%69%63%73",
    "/%2fmetrics",
    "/METRICS",
    "/metrics;jsessionid=1",
    "/metrics?format=prometheus",
    "/metrics%00",
    "/metrics#x",
]


def raw_get(base_url: str, target: str) -> tuple[int, bytes]:
    """GET `target` exactly as written (no client normalizes it); status and body."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("target", TRICKS)
def test_the_app_port_serves_no_metrics_however_the_path_is_spelled(server: Server, target: str) -> None:
    status, body = raw_get(server.url, target)

    assert status in {400, 404}, (target, status)
    assert b"cloudtaskhub_" not in body
    assert b"# TYPE" not in body


def test_the_metrics_port_serves_them_to_prometheus(server: Server) -> None:
    with server.client() as client:
        client.get("/api/v1/status")
    response = httpx.get(f"{server.metrics_url}/metrics", timeout=10.0)

    assert response.status_code == 200
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"cloudtaskhub_http_requests", "cloudtaskhub_outbox_backlog"} <= names


def test_requests_for_metrics_on_the_app_port_are_counted_as_unmatched(server: Server) -> None:
    raw_get(server.url, "/metrics")

    text = httpx.get(f"{server.metrics_url}/metrics", timeout=10.0).text

    routes = {
        sample.labels.get("route")
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "cloudtaskhub_http_requests_total"
    }
    assert "/metrics" not in routes
    assert "<unmatched>" in routes
