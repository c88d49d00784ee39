"""Lists in statements padded to a few lengths, so a statement has a few shapes.

A statement with a list in it (`seq IN (...)`, a multi-row VALUES) is a different
SQL text for every length of the list. Each text takes its own entry in every
pooled connection's prepared-statement cache (Python's `sqlite3` keeps 128 per
connection, asyncpg 100) and, for a multi-row VALUES, in SQLAlchemy's compiled
cache. With batches of any size from 1 to 100 those caches fill, connection by
connection, with near-copies of one statement: a long-running process grew by
2-4 MB a minute for many minutes (on one SQLite connection, inserts of 1 to 128
rows hold 4.7 MB of prepared statements).

`padded` repeats a list's last item up to the next power of two: at most eight
shapes up to 128, whatever the traffic (Hibernate's `in_clause_parameter_padding`
does the same for the same reason). A repeated value changes no `IN`; a repeated
row of an `INSERT ... ON CONFLICT DO NOTHING` conflicts with its first copy and is
skipped, on SQLite and on PostgreSQL alike (only DO UPDATE refuses to touch a row
twice), and RETURNING names only the rows inserted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["padded"]

T = TypeVar("T")


def padded(items: Sequence[T]) -> list[T]:
    """`items`, its last one repeated up to the next power of two in length."""
    if not items:
        return []
    length = 1 << (len(items) - 1).bit_length()
    return [*items, *[items[-1]] * (length - len(items))]
