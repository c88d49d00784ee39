"""Token verification with the public key only, usable by every module.

Access tokens are EdDSA (Ed25519) JWTs issued by the auth module. Everything else
verifies them here with the public key; the private key is loaded only where it
is configured (the auth container) or generated in dev under `./var/keys`.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cloudtaskhub.errors import NotAuthenticated
from cloudtaskhub.settings import Settings, SettingsError

__all__ = ["KeyStore", "Principal", "TokenVerifier"]

ALGORITHM = "EdDSA"
#: Clock skew tolerated on `exp` and `nbf`, in seconds.
_LEEWAY = 5


@dataclass(frozen=True)
class Principal:
    """The authenticated caller."""

    user_id: UUID
    email: str
    roles: frozenset[str]
    #: The login session the token belongs to (its `sid` claim: auth's refresh-token
    #: family); None for a token without one.
    session_id: UUID | None = None
    #: When the token stops being valid (its `exp`), in Unix seconds.
    expires_at: float | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class KeyStore:
    """The signing key pair: public always, private only where configured."""

    def __init__(self, public_key: Ed25519PublicKey, private_key: Ed25519PrivateKey | None) -> None:
        self.public_key = public_key
        self.private_key = private_key
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.raw_public = raw
        # RFC 7638 thumbprint of the OKP key: a stable `kid`.
        canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{_b64(raw)}"}}'.encode()
        self.kid = _b64(hashlib.sha256(canonical).digest())

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        if settings.jwt_public_key_file:
            public = _read_public(Path(settings.jwt_public_key_file), "CTH_JWT_PUBLIC_KEY_FILE")
            private = (
                _read_private(Path(settings.jwt_private_key_file), "CTH_JWT_PRIVATE_KEY_FILE")
                if settings.jwt_private_key_file
                else None
            )
            return cls(public, private)
        if settings.jwt_private_key_file:
            private = _read_private(Path(settings.jwt_private_key_file), "CTH_JWT_PRIVATE_KEY_FILE")
            return cls(private.public_key(), private)
        if settings.env == "prod":
            raise SettingsError("CTH_JWT_PUBLIC_KEY_FILE", "a PEM public key file in prod", "")
        return cls.development(settings.keys_dir)

    @classmethod
    def development(cls, directory: Path) -> KeyStore:
        """Generate a dev key pair on first run; later runs (and other processes) reuse it."""
        private_path = directory / "jwt_ed25519.pem"
        if not private_path.exists():
            directory.mkdir(parents=True, exist_ok=True)
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            temporary = directory / f".jwt_ed25519.{os.getpid()}.tmp"
            temporary.write_bytes(pem)
            temporary.chmod(0o600)
            try:  # link() fails if another process won the race; then use its key
                os.link(temporary, private_path)
            except FileExistsError:
                pass
            finally:
                temporary.unlink()
        private = _read_private(private_path, "CTH_JWT_PRIVATE_KEY_FILE")
        public_path = directory / "jwt_ed25519.pub.pem"
        if not public_path.exists():
            public_path.write_bytes(
                private.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        return cls(private.public_key(), private)

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": _b64(self.raw_public),
                    "kid": self.kid,
                    "alg": ALGORITHM,
                    "use": "sig",
                }
            ]
        }


def _read_private(path: Path, variable: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise SettingsError(variable, "a readable Ed25519 private key (PEM)", str(path)) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise SettingsError(variable, "an Ed25519 private key", type(key).__name__)
    return key


def _read_public(path: Path, variable: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as error:
        raise SettingsError(variable, "a readable Ed25519 public key (PEM)", str(path)) from error
    if not isinstance(key, Ed25519PublicKey):
        raise SettingsError(variable, "an Ed25519 public key", type(key).__name__)
    return key


class TokenVerifier:
    """Verifies access tokens: signature (EdDSA only), expiry, issuer, audience, type."""

    #: Verified tokens remembered until they expire (a client sends the same one
    #: many times); bounded so forged tokens cannot grow it.
    CACHE_SIZE = 4096

    def __init__(self, keys: KeyStore, settings: Settings) -> None:
        self._keys = keys
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._verified: OrderedDict[str, tuple[Principal, float, float]] = OrderedDict()

    def verify(self, token: str) -> Principal:
        """The caller behind `token`; raises NotAuthenticated for anything not valid now."""
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, not_before, expires = remembered
            if not_before <= time.time() < expires:
                self._verified.move_to_end(token)
                return principal
            del self._verified[token]
        principal, claims = self._decode(token)
        self._verified[token] = (principal, float(claims["nbf"]) - _LEEWAY, float(claims["exp"]) + _LEEWAY)
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    def _decode(self, token: str) -> tuple[Principal, dict[str, Any]]:
        try:
            claims = jwt.decode(
                token,
                self._keys.public_key,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud", "typ"]},
                leeway=_LEEWAY,
            )
        except jwt.ExpiredSignatureError:
            raise NotAuthenticated(reason="token expired") from None
        except jwt.ImmatureSignatureError:
            raise NotAuthenticated(reason="token not yet valid") from None
        except jwt.InvalidTokenError:
            raise NotAuthenticated(reason="invalid token") from None
        if claims.get("typ") != "access":
            raise NotAuthenticated(reason="not an access token")
        try:
            user_id = UUID(str(claims["sub"]))
            session_id = UUID(str(claims["sid"])) if "sid" in claims else None
        except ValueError:
            raise NotAuthenticated(reason="invalid token") from None
        principal = Principal(
            user_id=user_id,
            email=str(claims.get("email", "")),
            roles=frozenset(str(r) for r in claims.get("roles", [])),
            session_id=session_id,
            expires_at=float(claims["exp"]),
        )
        return principal, claims
