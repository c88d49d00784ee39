"""A real all-in-one server (uvicorn subprocess, SQLite, in-process bus) per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from entrypoints.split import Child, free_port, start_server, wait_ready

PASSWORD = "correct horse battery staple"


@dataclass
class Server:
    url: str
    child: Child
    log_path: Path
    #: The metrics listener (CTH_METRICS_PORT): Prometheus' address, never the edge's.
    metrics_url: str = ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)

    def register_and_login(self, email: str) -> dict[str, str]:
        """Register `email` and return Authorization headers for it."""
        with self.client() as client:
            client.post(
                "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "display_name": email.split("@")[0]},
            )
            tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    run = tmp_path_factory.mktemp("server")
    port = free_port()
    metrics_port = free_port()
    env = {
        "CTH_ENV": "test",
        "CTH_DATA_DIR": str(run),
        "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{run / 'app.db'}",
        "CTH_LOG_FORMAT": "json",
        "CTH_LOG_LEVEL": "DEBUG",
        "CTH_NOTIFICATION_WEBHOOK_ALLOW_PRIVATE": "false",
        "OTEL_SDK_DISABLED": "true",
        "CTH_METRICS_PORT": str(metrics_port),
    }
    child = start_server("all", port, env, run, name="all-in-one")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(child, url, timeout=60)
        yield Server(url, child, child.log_path, f"http://127.0.0.1:{metrics_port}")
    finally:
        child.stop(grace=10)
