"""X-Forwarded-For counts only from configured proxies (CTH_TRUSTED_PROXIES).

Review finding: uvicorn ran with `forwarded_allow_ips="*"` and the login lockout keys on
the client address, so a different `X-Forwarded-For` per guess never saw a 429.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from entrypoints.split import free_port, start_server, wait_ready
from tests.security.conftest import PASSWORD, Server


def guesses(client: httpx.Client, email: str, spoofed: list[str]) -> list[int]:
    return [
        client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": f"guess-{n:06d}"},
            headers={"X-Forwarded-For": address},
        ).status_code
        for n, address in enumerate(spoofed)
    ]


def register(client: httpx.Client, email: str) -> None:
    response = client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "T"}
    )
    assert response.status_code == 201, response.text


def test_a_spoofed_forwarded_for_does_not_reset_the_lockout(server: Server) -> None:
    spoofed = [f"198.51.100.{n}" for n in range(1, 13)]
    with server.client() as client:
        register(client, "spoofed@example.com")
        statuses = guesses(client, "spoofed@example.com", spoofed)
        right_password = client.post(
            "/api/v1/auth/login",
            json={"email": "spoofed@example.com", "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.99"},
        )

    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    assert right_password.status_code == 429


@pytest.fixture(scope="module")
def behind_a_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose only trusted proxy is loopback (as `cloudtaskhub dev split` runs Traefik)."""
    run = tmp_path_factory.mktemp("proxied")
    env = {
        "CTH_ENV": "test",
        "CTH_DATA_DIR": str(run),
        "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{run / 'app.db'}",
        "CTH_TRUSTED_PROXIES": "127.0.0.1",
        "OTEL_SDK_DISABLED": "true",
    }
    port = free_port()
    child = start_server("auth", port, env, run, name="auth-behind-proxy")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(child, url, timeout=60)
        yield url
    finally:
        child.stop(grace=10)


def test_a_trusted_proxys_forwarded_for_names_the_client(behind_a_proxy: str) -> None:
    with httpx.Client(base_url=behind_a_proxy, timeout=10.0) as client:
        register(client, "proxied@example.com")
        one_client = guesses(client, "proxied@example.com", ["198.51.100.1"] * 6)
        another_client = guesses(client, "proxied@example.com", ["198.51.100.2"])

    assert one_client == [401] * 5 + [429]
    assert another_client == [401]  # its own count: the proxy's header named it
