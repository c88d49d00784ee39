"""Serializing concurrent writers on one key, for check-then-insert rules (quotas)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["serialize_per"]


async def serialize_per(session: AsyncSession, key: str) -> None:
    """Make the rest of this transaction run one at a time per `key`.

    A quota check (count, then insert) is a race under READ COMMITTED: two
    transactions both count n-1 and both insert. PostgreSQL: a transaction-scoped
    advisory lock on the key's hash, released at commit or rollback. SQLite needs
    nothing: the kernel begins every transaction IMMEDIATE, so writers queue.
    Prefix the key with its owner (`"project:<owner id>"`) so unrelated rules never
    wait for each other.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})
