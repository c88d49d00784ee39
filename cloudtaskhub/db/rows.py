"""Columns read as the driver returns them, for rows that go straight into msgspec structs.

SQLAlchemy turns every value of a typed column into its Python type on the way out:
`GUID` builds a `uuid.UUID` from SQLite's 16 bytes, `DateTimeUTC` parses SQLite's
text and attaches UTC, `Date` parses its text. A page of 20 tasks has ~140 such
values; in Python each costs about a microsecond and more through the processor
layers. `msgspec.convert` does the same conversions in C when it builds the
response struct from the row, so the hot reads select `plain(column)` and let it.

What the driver returns for a `plain` column, and msgspec accepts for the field:

| column | SQLite (sqlite3) | PostgreSQL (asyncpg) |
|---|---|---|
| `GUID` | 16 bytes | `UUID` |
| `DateTimeUTC` | `"2026-01-02 03:04:05.123456Z"` (stored UTC text + `Z`) | aware `datetime` |
| `Date` | `"2026-01-02"` | `date` |
| text, integers | as they are | as they are |

Never `plain` a boolean (SQLite returns 0/1, which msgspec does not take for a `bool`).
"""

from __future__ import annotations

from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import String, literal_column, type_coerce
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import NullType

__all__ = ["plain"]


def plain(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """`column`, labelled with its own name, with no result processing (see the module doc)."""
    name = column.key
    if dialect == "sqlite" and isinstance(column.type, DateTimeUTC):
        # SQLite keeps the UTC moment as naive text; the `Z` makes msgspec read it as UTC.
        text = type_coerce(column, String()) + literal_column("'Z'", String())
        return type_coerce(text, NullType()).label(name)
    return type_coerce(column, NullType()).label(name)
