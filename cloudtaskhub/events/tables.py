"""The kernel's tables inside each module's schema: outbox, inbox and dead letters.

They are added to the module's own MetaData (named `<module>_outbox` and so on), so
a module's database holds everything its transactions touch, in both shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text

__all__ = ["EventTables", "event_tables"]

_SEQ = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class EventTables:
    outbox: Table
    inbox: Table
    dead_letters: Table


def event_tables(metadata: MetaData, module: str) -> EventTables:
    """Create (once) and return the kernel tables for `module` in `metadata`."""
    name = f"{module}_outbox"
    if name in metadata.tables:
        return EventTables(
            metadata.tables[name],
            metadata.tables[f"{module}_inbox"],
            metadata.tables[f"{module}_dead_letters"],
        )
    outbox = Table(
        name,
        metadata,
        # Commit order per key: rows are published in `seq` order.
        Column("seq", _SEQ, primary_key=True, autoincrement=True),
        Column("id", GUID, nullable=False, unique=True),
        Column("type", String(200), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("time", DateTimeUTC, nullable=False),
        Column("data", Text, nullable=False),
        Column("traceparent", String(100)),
        Column("tracestate", String(500)),
        Column("correlationid", String(100)),
        Column("published_at", DateTimeUTC),
    )
    Index(
        f"ix_{name}_pending",
        outbox.c.seq,
        postgresql_where=outbox.c.published_at.is_(None),
        sqlite_where=outbox.c.published_at.is_(None),
    )
    inbox = Table(
        f"{module}_inbox",
        metadata,
        Column("event_id", GUID, primary_key=True),
        Column("type", String(200), nullable=False),
        Column("handled_at", DateTimeUTC, nullable=False),
    )
    dead_letters = Table(
        f"{module}_dead_letters",
        metadata,
        Column("id", GUID, primary_key=True),
        Column("event_id", GUID, nullable=False, index=True),
        Column("type", String(200), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("error", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("failed_at", DateTimeUTC, nullable=False),
        Column("replayed_at", DateTimeUTC),
    )
    return EventTables(outbox, inbox, dead_letters)
