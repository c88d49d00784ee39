"""auth — accounts, passwords and tokens.

Purpose: people register and log in; auth hashes passwords with argon2id, issues
short-lived EdDSA access tokens and rotating refresh tokens (stored as digests;
reusing a rotated one revokes its family), and publishes its public keys (JWKS).
Every other module verifies access tokens with the public key alone.

Publishes: `auth.user_registered`, `auth.session_ended` (a logout, or a reused refresh
token, revoked a family). Consumes: nothing.

Terms: *family* — the chain of refresh tokens descending from one login, also called the
*session*: its id is the `sid` claim of every access token issued in it; *admin* — an
account named in CTH_ADMIN_USER_IDS or granted with `cloudtaskhub auth grant-admin EMAIL`
(an operator act on the server, never a claim a client can make).
"""

from pathlib import Path

from cloudtaskhub.module import Module
from modules.auth.api import AuthController
from modules.auth.cli import auth_cli
from modules.auth.contracts import SessionEnded, UserRegistered
from modules.auth.models import AuthBase

module = Module(
    name="auth",
    description="Accounts, password hashing, access and refresh tokens, JWKS",
    route_handlers=[AuthController],
    path_prefixes=("/api/v1/auth",),
    metadata=AuthBase.metadata,
    publishes=[UserRegistered, SessionEnded],
    migrations=Path(__file__).parent / "migrations",
    cli=auth_cli,
)
