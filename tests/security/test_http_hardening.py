"""What every response carries, what it never carries, and what is closed by default."""

from __future__ import annotations

from tests.security.conftest import PASSWORD, Server


def test_security_headers_are_present(server: Server) -> None:
    with server.client() as client:
        response = client.get("/api/v1/status")

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-request-id"]


def test_cors_is_closed_by_default(server: Server) -> None:
    with server.client() as client:
        preflight = client.options(
            "/api/v1/projects",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        simple = client.get("/api/v1/status", headers={"Origin": "https://evil.example"})

    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers


def test_passwords_never_appear_in_logs_or_responses(server: Server) -> None:
    with server.client() as client:
        registered = client.post(
            "/api/v1/auth/register",
            json={"email": "secret@example.com", "password": PASSWORD, "display_name": "S"},
        )
        bad = client.post(
            "/api/v1/auth/login", json={"email": "secret@example.com", "password": PASSWORD + "x"}
        )
        good = client.post("/api/v1/auth/login", json={"email": "secret@example.com", "password": PASSWORD})

    for response in (registered, bad, good):
        assert PASSWORD not in response.text
    assert PASSWORD not in server.log_path.read_text(errors="replace")


def test_registration_reveals_nothing_beyond_the_documented_409(server: Server) -> None:
    with server.client() as client:
        client.post(
            "/api/v1/auth/register",
            json={"email": "taken@example.com", "password": PASSWORD, "display_name": "T"},
        )
        again = client.post(
            "/api/v1/auth/register",
            json={"email": "taken@example.com", "password": "x" * 5, "display_name": "T"},
        )
        unknown_login = client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": PASSWORD}
        )
        wrong_login = client.post(
            "/api/v1/auth/login", json={"email": "taken@example.com", "password": PASSWORD + "!"}
        )

    assert again.status_code == 422  # validation first: a short password never reaches the uniqueness check
    assert unknown_login.json()["detail"] == wrong_login.json()["detail"]


def test_login_brute_force_is_throttled(server: Server) -> None:
    with server.client() as client:
        client.post(
            "/api/v1/auth/register",
            json={"email": "target@example.com", "password": PASSWORD, "display_name": "T"},
        )
        statuses = [
            client.post(
                "/api/v1/auth/login", json={"email": "target@example.com", "password": f"guess-{i:06d}"}
            ).status_code
            for i in range(8)
        ]
        right_password = client.post(
            "/api/v1/auth/login", json={"email": "target@example.com", "password": PASSWORD}
        )

    assert statuses[:5] == [401] * 5
    assert set(statuses[5:]) == {429}
    assert right_password.status_code == 429
    assert int(right_password.headers["retry-after"]) > 0


def test_oversized_body_is_413_everywhere(server: Server) -> None:
    headers = server.register_and_login("big@example.com")
    huge = b'{"name": "' + b"x" * (1024 * 1024 + 1) + b'"}'

    with server.client() as client:
        responses = [
            client.post(path, content=huge, headers={**headers, "content-type": "application/json"})
            for path in ("/api/v1/auth/register", "/api/v1/projects", "/api/v1/notifications/webhooks")
        ]

    assert [r.status_code for r in responses] == [413, 413, 413]
