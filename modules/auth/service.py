"""Auth use cases: register, log in, rotate refresh tokens, log out, describe the caller."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import jwt
from advanced_alchemy.exceptions import DuplicateKeyError
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, case, literal, null, select, update
from sqlalchemy.exc import IntegrityError

from cloudtaskhub.clock import Clock, new_id
from cloudtaskhub.db import UnitOfWork, dialect_insert
from cloudtaskhub.errors import Conflict, NotAuthenticated, NotFound, TooManyRequests
from cloudtaskhub.runtime import ModuleRuntime
from cloudtaskhub.security import ALGORITHM, KeyStore
from cloudtaskhub.settings import Settings
from modules.auth.contracts import SessionEnded, UserRegistered
from modules.auth.limits import PasswordRateLimit, provide_password_rate_limit
from modules.auth.models import AdminGrantModel, LoginThrottleModel, RefreshTokenModel, UserModel

__all__ = [
    "AuthService",
    "EmailTaken",
    "InvalidCredentials",
    "TokenPair",
    "UserNotFound",
    "provide_auth_service",
]


class EmailTaken(Conflict):
    template = "an account with this email already exists"


class InvalidCredentials(NotAuthenticated):
    template = "invalid email or password"


class InvalidRefreshToken(NotAuthenticated):
    template = "refresh token is invalid, expired or revoked"


class UserNotFound(NotFound):
    template = "user not found"


class UserRepository(SQLAlchemyAsyncRepository[UserModel]):
    model_type = UserModel


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int


# argon2id with the library's RFC 9106 "low memory" profile defaults.
_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthService:
    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        keys: KeyStore,
        settings: Settings,
        password_rate_limit: PasswordRateLimit,
    ) -> None:
        self._uow = uow
        self._password_rate_limit = password_rate_limit
        self._clock = clock
        self._keys = keys
        self._settings = settings
        self._admin_user_ids = frozenset(UUID(i) for i in settings.admin_user_ids)

    async def register(self, email: str, password: str, display_name: str, client: str) -> UserModel:
        """Create an account and publish `UserRegistered`.

        Raises EmailTaken, and TooManyRequests over the password endpoints' rate limits.
        """
        self._password_rate_limit.admit(client)
        email = email.strip().lower()
        password_hash = await asyncio.to_thread(_hasher.hash, password)
        try:
            async with self._uow.transaction() as tx:
                users = UserRepository(session=tx.session)
                if await users.exists(email=email):
                    raise EmailTaken()
                user = await users.add(
                    UserModel(
                        id=new_id(),
                        email=email,
                        display_name=display_name.strip(),
                        password_hash=password_hash,
                        created_at=self._clock.now(),
                    )
                )
                await tx.record(UserRegistered(user_id=user.id, email=email, display_name=user.display_name))
        except (IntegrityError, DuplicateKeyError):  # a concurrent registration won the race
            raise EmailTaken() from None
        return user

    async def login(self, email: str, password: str, client: str) -> TokenPair:
        """Check the password and issue a token pair.

        Every attempt is counted before the password is checked, in one atomic upsert, so
        concurrent guesses cannot all slip under the limit; a correct password clears the
        count. Raises InvalidCredentials (the same for unknown email and wrong password) and
        TooManyRequests once more than `login_max_failures` uncleared attempts lock the
        account for this client for `login_lockout_seconds`, or over the password
        endpoints' rate limits.
        """
        self._password_rate_limit.admit(client)
        email = email.strip().lower()
        throttle_key = f"{email}|{client}"
        await self._count_attempt(throttle_key)
        async with self._uow.read() as session:
            user = await UserRepository(session=session).get_one_or_none(email=email)
        valid = await asyncio.to_thread(_verify, user.password_hash if user else _DUMMY_HASH, password)
        if user is None or not valid:
            raise InvalidCredentials()
        async with self._uow.transaction() as tx:
            await tx.session.execute(
                update(LoginThrottleModel)
                .where(LoginThrottleModel.key == throttle_key)
                .values(failures=0, locked_until=None)
            )
            return await self._issue(tx.session, user, family_id=new_id())

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate a refresh token. Reusing a rotated token revokes its whole family.

        The rotation is one conditional UPDATE (`... WHERE rotated_at IS NULL`): of any
        number of concurrent refreshes of one token, the database lets exactly one match.
        Every other one is a reuse — two clients holding one token — and revokes the family,
        the winner's new token included. Raises InvalidRefreshToken.
        """
        now = self._clock.now()
        digest = _digest(refresh_token)
        async with self._uow.transaction() as tx:
            rotated = (
                await tx.session.execute(
                    update(RefreshTokenModel)
                    .where(
                        RefreshTokenModel.token_hash == digest,
                        RefreshTokenModel.rotated_at.is_(None),
                        RefreshTokenModel.revoked_at.is_(None),
                        RefreshTokenModel.expires_at > now,
                    )
                    .values(rotated_at=now)
                    .returning(RefreshTokenModel.user_id, RefreshTokenModel.family_id)
                    .execution_options(synchronize_session=False)
                )
            ).one_or_none()
            if rotated is not None:
                user = await UserRepository(session=tx.session).get(rotated.user_id)
                return await self._issue(tx.session, user, family_id=rotated.family_id)
            stored = (
                await tx.session.execute(
                    select(
                        RefreshTokenModel.family_id, RefreshTokenModel.user_id, RefreshTokenModel.rotated_at
                    ).where(RefreshTokenModel.token_hash == digest)
                )
            ).one_or_none()
            reused = stored is not None and stored.rotated_at is not None
            if reused:
                await self._end_session(tx, stored.user_id, stored.family_id, "refresh_reuse")
        # Raised after the commit, so a reused token's family stays revoked.
        raise InvalidRefreshToken()

    async def logout(self, refresh_token: str) -> None:
        """Revoke the token's family. Unknown tokens are ignored (logout is idempotent)."""
        async with self._uow.transaction() as tx:
            stored = await tx.session.scalar(
                select(RefreshTokenModel).where(RefreshTokenModel.token_hash == _digest(refresh_token))
            )
            if stored is not None:
                await self._end_session(tx, stored.user_id, stored.family_id, "logout")

    async def _end_session(self, tx: Any, user_id: UUID, family_id: UUID, reason: str) -> None:
        """Revoke the family's live refresh tokens; when any was live, the session just
        ended: say so (streams of its access tokens close), once."""
        revoked = await tx.session.execute(
            update(RefreshTokenModel)
            .where(RefreshTokenModel.family_id == family_id, RefreshTokenModel.revoked_at.is_(None))
            .values(revoked_at=self._clock.now())
            .execution_options(synchronize_session=False)
        )
        if revoked.rowcount:
            await tx.record(SessionEnded(user_id=user_id, session_id=family_id, reason=reason))

    async def get_user(self, user_id: UUID) -> UserModel:
        async with self._uow.read() as session:
            user = await UserRepository(session=session).get_one_or_none(id=user_id)
        if user is None:
            raise UserNotFound()
        return user

    def jwks(self) -> dict[str, Any]:
        return self._keys.jwks()

    async def grant_admin(self, email: str) -> UserModel:
        """Give an existing account the admin role (an operator act, from the CLI).

        Takes effect with the account's next access token. Raises UserNotFound.
        """
        async with self._uow.transaction() as tx:
            user = await UserRepository(session=tx.session).get_one_or_none(email=email.strip().lower())
            if user is None:
                raise UserNotFound()
            if await tx.session.get(AdminGrantModel, user.id) is None:
                tx.session.add(AdminGrantModel(user_id=user.id, granted_at=self._clock.now()))
        return user

    async def revoke_admin(self, email: str) -> bool:
        """Take the granted admin role away; False when it was not granted. Raises UserNotFound.

        Tokens already issued keep their role until they expire (CTH_ACCESS_TOKEN_TTL_SECONDS).
        """
        async with self._uow.transaction() as tx:
            user = await UserRepository(session=tx.session).get_one_or_none(email=email.strip().lower())
            if user is None:
                raise UserNotFound()
            grant = await tx.session.get(AdminGrantModel, user.id)
            if grant is not None:
                await tx.session.delete(grant)
        return grant is not None

    async def _roles(self, session: Any, user: UserModel) -> list[str]:
        if user.id in self._admin_user_ids or await session.get(AdminGrantModel, user.id) is not None:
            return ["admin"]
        return []

    async def _issue(self, session: Any, user: UserModel, *, family_id: UUID) -> TokenPair:
        if self._keys.private_key is None:
            raise RuntimeError("auth needs CTH_JWT_PRIVATE_KEY_FILE to issue tokens")
        now = self._clock.now()
        ttl = self._settings.access_token_ttl_seconds
        roles = await self._roles(session, user)
        claims = {
            "iss": self._settings.jwt_issuer,
            "aud": self._settings.jwt_audience,
            "sub": str(user.id),
            "email": user.email,
            "roles": roles,
            "typ": "access",
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=ttl),
            "jti": str(new_id()),
            # The login session: a logout ends what its tokens hold open (SessionEnded).
            "sid": str(family_id),
        }
        access = jwt.encode(
            claims, self._keys.private_key, algorithm=ALGORITHM, headers={"kid": self._keys.kid}
        )
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshTokenModel(
                id=new_id(),
                user_id=user.id,
                family_id=family_id,
                token_hash=_digest(refresh),
                issued_at=now,
                expires_at=now + timedelta(seconds=self._settings.refresh_token_ttl_seconds),
            )
        )
        return TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl)

    async def _count_attempt(self, key: str) -> None:
        """Count one login attempt for `key` atomically; raises TooManyRequests when locked.

        One INSERT ... ON CONFLICT DO UPDATE ... RETURNING (PostgreSQL and SQLite): the
        database serializes concurrent attempts on the row, so N concurrent guesses count N,
        and the first attempt of a key cannot race another into a duplicate-key error.
        """
        now = self._clock.now()
        maximum = self._settings.login_max_failures
        lock_until = now + timedelta(seconds=self._settings.login_lockout_seconds)
        table = LoginThrottleModel.__table__
        locked_until_type = table.c.locked_until.type
        lock_at_first = literal(lock_until, locked_until_type) if maximum <= 1 else null()
        expired = and_(table.c.locked_until.is_not(None), table.c.locked_until <= now)
        async with self._uow.transaction() as tx:
            statement = dialect_insert(tx.session, table).values(
                key=key, failures=1, locked_until=lock_until if maximum <= 1 else None, last_failure_at=now
            )
            statement = statement.on_conflict_do_update(
                index_elements=[table.c.key],
                set_={
                    "failures": case((expired, 1), else_=table.c.failures + 1),
                    "locked_until": case(
                        (expired, lock_at_first),
                        (
                            and_(table.c.locked_until.is_(None), table.c.failures + 1 >= maximum),
                            literal(lock_until, locked_until_type),
                        ),
                        else_=table.c.locked_until,
                    ),
                    "last_failure_at": now,
                },
            ).returning(table.c.failures, table.c.locked_until)
            attempts, locked_until = (await tx.session.execute(statement)).one()
        if attempts > maximum and locked_until is not None and locked_until > now:
            raise TooManyRequests(retry_after=max(1, int((locked_until - now).total_seconds()) + 1))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def provide_auth_service(module: ModuleRuntime) -> AuthService:
    return AuthService(
        module.uow, module.clock, module.keys, module.settings, provide_password_rate_limit(module)
    )
