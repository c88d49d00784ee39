"""Register, log in, refresh, rotate, log out — through the public API."""

from __future__ import annotations

import asyncio

import pytest

from cloudtaskhub.testing import ModuleHarness
from modules.auth import module as auth
from modules.auth.contracts import UserRegistered

ADA = {"email": "Ada@Example.com", "password": "correct horse battery", "display_name": "Ada"}


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([auth], database_url=database_url, data_dir=str(tmp_path)) as h:
        yield h


async def login(harness, email="ada@example.com", password=ADA["password"]):  # type: ignore[no-untyped-def]
    return await harness.post("/api/v1/auth/login", json={"email": email, "password": password})


async def test_register_returns_the_user_and_publishes_user_registered(harness):  # type: ignore[no-untyped-def]
    response = await harness.post("/api/v1/auth/register", json=ADA)

    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "ada@example.com"
    assert set(body) == {"id", "email", "display_name", "created_at"}
    event = await harness.expect(UserRegistered)
    assert str(event.user_id) == body["id"]


async def test_email_is_unique_case_insensitively(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=ADA)

    again = await harness.post("/api/v1/auth/register", json={**ADA, "email": "ADA@example.COM"})

    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert len(harness.published(UserRegistered)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ADA, "password": "short"}, "password"),
        ({**ADA, "email": "not-an-email"}, "email"),
        ({**ADA, "display_name": ""}, "display_name"),
        ({"email": "a@b.io", "password": "0123456789"}, "display_name"),
    ],
)
async def test_bad_registration_names_the_field(harness, body, field):  # type: ignore[no-untyped-def]
    response = await harness.post("/api/v1/auth/register", json=body)

    assert response.status_code == 422
    problem = response.json()
    assert problem["status"] == 422
    assert [e["field"] for e in problem["errors"]] == [field]


async def test_malformed_json_is_400(harness):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/auth/register", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_body_over_one_mebibyte_is_413(harness):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/auth/register",
        content=b'{"email": "' + b"a" * (1024 * 1024 + 10) + b'"}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413


async def test_login_then_me(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=ADA)

    tokens = (await login(harness)).json()
    me = await harness.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == harness.settings.access_token_ttl_seconds
    assert me.status_code == 200
    assert me.json()["email"] == "ada@example.com"


async def test_unknown_email_and_wrong_password_answer_the_same_401(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=ADA)

    wrong_password = await login(harness, password="wrong password!")
    unknown_email = await login(harness, email="nobody@example.com")

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json()["detail"] == unknown_email.json()["detail"]
    assert wrong_password.headers["www-authenticate"].startswith("Bearer")


async def test_repeated_failures_answer_429_with_retry_after(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=ADA)
    for _ in range(harness.settings.login_max_failures):
        assert (await login(harness, password="wrong password!")).status_code == 401

    locked = await login(harness)

    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0


async def test_refresh_rotates_and_reuse_revokes_the_family(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=ADA)
    first = (await login(harness)).json()

    second = await harness.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    reuse = await harness.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    after_revocation = await harness.post(
        "/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )

    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert reuse.status_code == 401
    assert after_revocation.status_code == 401


async def test_logout_ends_the_refresh_token(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=ADA)
    tokens = (await login(harness)).json()

    out = await harness.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    refreshed = await harness.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    assert out.status_code == 204
    assert refreshed.status_code == 401


async def test_jwks_publishes_the_ed25519_public_key(harness):  # type: ignore[no-untyped-def]
    keys = (await harness.get("/api/v1/auth/jwks")).json()["keys"]

    assert [(k["kty"], k["crv"], k["alg"]) for k in keys] == [("OKP", "Ed25519", "EdDSA")]
    assert "d" not in keys[0]


async def test_concurrent_refreshes_of_one_token_rotate_it_once_and_revoke_the_family(harness):  # type: ignore[no-untyped-def]
    # Review finding: on PostgreSQL 8 concurrent refreshes of one token all answered 200.
    await harness.post("/api/v1/auth/register", json=ADA)
    token = (await login(harness)).json()["refresh_token"]

    answers = await asyncio.gather(
        *(harness.post("/api/v1/auth/refresh", json={"refresh_token": token}) for _ in range(8))
    )

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [401] * 7
    (winner,) = [a.json()["refresh_token"] for a in answers if a.status_code == 200]
    # The race is a reuse: the family, the winner's new token included, is revoked.
    again = await harness.post("/api/v1/auth/refresh", json={"refresh_token": winner})
    assert again.status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/auth/register", {**ADA, "email": "ada\u0000@example.com"}, "email"),
        ("/api/v1/auth/register", {**ADA, "display_name": "Ada\u0000"}, "display_name"),
        ("/api/v1/auth/register", {**ADA, "password": "correct\u0000horse"}, "password"),
        ("/api/v1/auth/login", {"email": "ada\u0000@example.com", "password": "x"}, "email"),
        ("/api/v1/auth/login", {"email": "ada@example.com", "password": "x\u0000"}, "password"),
    ],
)
async def test_nul_characters_answer_422_naming_the_field(harness, path, body, field):  # type: ignore[no-untyped-def]
    # Review finding: PostgreSQL text cannot hold NUL, so these answered 500.
    response = await harness.post(path, json=body)

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [field]
