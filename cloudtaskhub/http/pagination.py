"""Cursor pagination: `?limit=` (1–100, default 20) and an opaque `?cursor=`.

A cursor is the keyset position of the last item of the previous page (e.g. its
sort value and id), so pages stay correct while rows are inserted.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import msgspec
from litestar.params import Parameter

from cloudtaskhub.errors import RuleViolated

__all__ = ["Page", "PageRequest", "decode_cursor", "encode_cursor", "provide_page_request"]

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None

    def position(self, *kinds: type) -> list[Any] | None:
        """The decoded keyset values, or None on the first page.

        With `kinds` (e.g. `datetime, UUID`), the cursor must hold exactly that many
        values, each converted to its kind; anything else is a forged cursor and
        answers 422 like one we never issued, never a 500 from deeper down.
        """
        if not self.cursor:
            return None
        values = decode_cursor(self.cursor)
        if not kinds:
            return values
        if len(values) != len(kinds):
            raise _forged()
        return [_as(kind, value) for kind, value in zip(kinds, values, strict=True)]


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, msgspec.DecodeError):
        raise _forged() from None
    if not isinstance(values, list):
        raise _forged()
    return values


def _forged() -> RuleViolated:
    return RuleViolated(field="cursor", message="not a cursor this API issued")


def _as(kind: type, value: Any) -> Any:
    """`value` as `kind`: datetimes from ISO 8601 with an offset, UUIDs from strings."""
    try:
        if kind is datetime and isinstance(value, str):
            moment = datetime.fromisoformat(value)
            if moment.tzinfo is not None:
                # In UTC here: year 1 at +01:00 has no UTC value (OverflowError below, not a 500).
                return moment.astimezone(UTC)
        elif kind is UUID and isinstance(value, str):
            return UUID(value)
        elif kind in (str, int, float) and type(value) is kind:
            return value
    except (ValueError, OverflowError):
        pass
    raise _forged()


def provide_page_request(
    limit: Annotated[int, Parameter(ge=1, le=100, description="Page size (1–100)")] = 20,
    cursor: Annotated[
        str | None, Parameter(max_length=512, description="Opaque cursor from next_cursor")
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)
