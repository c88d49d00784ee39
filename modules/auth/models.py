"""Tables owned by the auth module."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from advanced_alchemy.mixins import UUIDv7PrimaryKey
from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloudtaskhub.db import declarative_base_for

AuthBase = declarative_base_for("auth")


class UserModel(UUIDv7PrimaryKey, AuthBase):
    __tablename__ = "auth_users"

    #: Lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class RefreshTokenModel(UUIDv7PrimaryKey, AuthBase):
    """A refresh token, stored as a SHA-256 digest. Rotation chains tokens in a family."""

    __tablename__ = "auth_refresh_tokens"
    __table_args__ = (Index("ix_auth_refresh_tokens_family", "family_id"),)

    user_id: Mapped[UUID] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    family_id: Mapped[UUID]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginThrottleModel(AuthBase):
    """Consecutive failed logins per account and client, shared by every replica."""

    __tablename__ = "auth_login_throttle"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int]
    locked_until: Mapped[datetime | None]
    last_failure_at: Mapped[datetime]


class AdminGrantModel(AuthBase):
    """An operator made this account an admin (`cloudtaskhub auth grant-admin`).

    The admin role is never derived from anything a client sends: registration is open
    and emails are not verified, so the grant is an act on the server.
    """

    __tablename__ = "auth_admin_grants"

    user_id: Mapped[UUID] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True)
    granted_at: Mapped[datetime]
