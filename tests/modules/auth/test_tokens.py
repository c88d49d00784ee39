"""Forged, altered and stale tokens are all refused with 401."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloudtaskhub.testing import ModuleHarness
from modules.auth import module as auth

ADA = {"email": "ada@example.com", "password": "correct horse battery", "display_name": "Ada"}


@pytest.fixture
async def harness(tmp_path):  # type: ignore[no-untyped-def]
    url = f"sqlite+aiosqlite:///{tmp_path / 'tokens.db'}"
    async with ModuleHarness([auth], database_url=url, data_dir=str(tmp_path)) as h:
        await h.post("/api/v1/auth/register", json=ADA)
        yield h


@pytest.fixture
async def tokens(harness):  # type: ignore[no-untyped-def]
    response = await harness.post(
        "/api/v1/auth/login", json={"email": ADA["email"], "password": ADA["password"]}
    )
    return response.json()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(token: str) -> dict:  # type: ignore[type-arg]
    return jwt.decode(token, options={"verify_signature": False})


async def me(harness, token):  # type: ignore[no-untyped-def]
    return await harness.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_valid_token_is_accepted(harness, tokens):  # type: ignore[no-untyped-def]
    assert (await me(harness, tokens["access_token"])).status_code == 200


async def test_missing_token_is_401_with_www_authenticate(harness):  # type: ignore[no-untyped-def]
    response = await harness.get("/api/v1/auth/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_tampered_payload_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    header, payload, signature = tokens["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["email"] = "mallory@example.com"

    forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])

    assert (await me(harness, forged)).status_code == 401


async def test_alg_none_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    claims = _claims(tokens["access_token"])
    unsigned = _b64(b'{"alg":"none","typ":"JWT"}') + "." + _b64(json.dumps(claims).encode()) + "."

    assert (await me(harness, unsigned)).status_code == 401


async def test_hs256_signed_with_the_public_key_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    public_pem = harness.runtime.keys.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64(b'{"alg":"HS256","typ":"JWT"}')
    body = _b64(json.dumps(_claims(tokens["access_token"])).encode())
    import hashlib
    import hmac

    signature = _b64(hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest())

    assert (await me(harness, f"{header}.{body}.{signature}")).status_code == 401


async def test_token_signed_by_another_key_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    other = jwt.encode(_claims(tokens["access_token"]), Ed25519PrivateKey.generate(), algorithm="EdDSA")

    assert (await me(harness, other)).status_code == 401


async def test_expired_token_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    harness.clock.advance(timedelta(seconds=harness.settings.access_token_ttl_seconds + 60))
    claims = _claims(tokens["access_token"])
    claims["exp"] = claims["iat"] - 10
    expired = jwt.encode(claims, harness.runtime.keys.private_key, algorithm="EdDSA")

    response = await me(harness, expired)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_not_yet_valid_token_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    claims = _claims(tokens["access_token"])
    claims["nbf"] = claims["iat"] + 3600
    claims["exp"] = claims["iat"] + 7200
    early = jwt.encode(claims, harness.runtime.keys.private_key, algorithm="EdDSA")

    assert (await me(harness, early)).status_code == 401


async def test_refresh_token_used_as_access_token_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    assert (await me(harness, tokens["refresh_token"])).status_code == 401


async def test_token_of_another_type_is_401(harness, tokens):  # type: ignore[no-untyped-def]
    claims = {**_claims(tokens["access_token"]), "typ": "refresh"}
    wrong_type = jwt.encode(claims, harness.runtime.keys.private_key, algorithm="EdDSA")

    assert (await me(harness, wrong_type)).status_code == 401
