"""Keyset pagination: a page continues strictly after the (sort key, id) of the
previous page's last row, so rows inserted meanwhile never shift what follows.

A cursor is `[<list name>, <sort key>, <id>]`; the list name guards against a
cursor from another list or another sort order being replayed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, case, or_

from modules.project.errors import UnknownCursor

__all__ = ["Ordering", "decode_position", "moment"]


@dataclass(frozen=True)
class Ordering:
    """How one list is ordered: by `key` then by `id`, each ascending or descending."""

    name: str
    key: Any
    id: Any
    key_descending: bool = False
    id_descending: bool = False
    #: NULL keys sort after every value (ascending only).
    nulls_last: bool = False

    def order_by(self) -> list[Any]:
        columns: list[Any] = []
        if self.nulls_last:
            # Portable NULLS LAST: SQLite and PostgreSQL disagree on the default.
            columns.append(case((self.key.is_(None), 1), else_=0))
        columns.append(self.key.desc() if self.key_descending else self.key.asc())
        columns.append(self.id.desc() if self.id_descending else self.id.asc())
        return columns

    def after(self, key: Any, id_: UUID) -> ColumnElement[bool]:
        """Rows strictly after the row with (key, id) in this ordering."""
        id_after = self.id < id_ if self.id_descending else self.id > id_
        if self.nulls_last and key is None:
            return and_(self.key.is_(None), id_after)
        key_after = self.key < key if self.key_descending else self.key > key
        condition = or_(key_after, and_(self.key == key, id_after))
        if self.nulls_last:
            condition = or_(condition, self.key.is_(None))
        return condition


def moment(value: Any) -> datetime:
    """A cursor's timestamp: ISO 8601 with an offset (a naive one is not ours)."""
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("timestamp without offset")
    try:  # year 1 at +01:00 (or 9999 at -01:00) has no UTC value: a forged cursor, not a 500
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp out of range") from None


def decode_position(
    position: list[Any] | None, name: str, parse_key: Callable[[Any], Any]
) -> tuple[Any, UUID] | None:
    """(key, id) from a decoded cursor of list `name`; UnknownCursor when it is not one."""
    if position is None:
        return None
    if len(position) != 3 or position[0] != name:
        raise UnknownCursor()
    try:
        return parse_key(position[1]), UUID(str(position[2]))
    except (TypeError, ValueError):
        raise UnknownCursor() from None
