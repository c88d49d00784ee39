"""Verified tokens are remembered, but never past their expiry."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from cloudtaskhub.errors import NotAuthenticated
from cloudtaskhub.security import ALGORITHM, KeyStore, TokenVerifier
from cloudtaskhub.testing import test_settings as hermetic_settings


@pytest.fixture
def verifier_and_keys(tmp_path):  # type: ignore[no-untyped-def]
    settings = hermetic_settings("sqlite+aiosqlite://", str(tmp_path))
    keys = KeyStore.development(tmp_path / "keys")
    return TokenVerifier(keys, settings), keys, settings


def _token(keys, settings, lifetime: timedelta) -> str:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    claims = {
        "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "sub": str(uuid.uuid4()),
        "typ": "access", "iat": now, "nbf": now, "exp": now + lifetime, "jti": str(uuid.uuid4()),
    }  # fmt: skip
    return jwt.encode(claims, keys.private_key, algorithm=ALGORITHM)


def test_a_remembered_token_stops_working_when_it_expires(verifier_and_keys, monkeypatch):  # type: ignore[no-untyped-def]
    verifier, keys, settings = verifier_and_keys
    token = _token(keys, settings, timedelta(seconds=60))
    assert verifier.verify(token) is verifier.verify(token)

    decoded_again = []

    def decode_as_pyjwt_would_then(token: str):  # type: ignore[no-untyped-def]
        decoded_again.append(token)
        raise NotAuthenticated(reason="token expired")

    later = time.time() + 120
    monkeypatch.setattr("cloudtaskhub.security.time.time", lambda: later)
    monkeypatch.setattr(verifier, "_decode", decode_as_pyjwt_would_then)

    with pytest.raises(NotAuthenticated):
        verifier.verify(token)
    assert decoded_again == [token]


def test_the_cache_is_bounded(verifier_and_keys, monkeypatch):  # type: ignore[no-untyped-def]
    verifier, keys, settings = verifier_and_keys
    monkeypatch.setattr(TokenVerifier, "CACHE_SIZE", 3)

    for _ in range(10):
        verifier.verify(_token(keys, settings, timedelta(minutes=5)))

    assert len(verifier._verified) == 3
