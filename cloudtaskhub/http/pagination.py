"""Cursor pagination: `?limit=` (1–100, default 20) and an opaque `?cursor=`.

A cursor is the keyset position of the last item of the previous page (e.g. its
sort value and id), so pages stay correct while rows are inserted.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

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

    def position(self) -> list[Any] | None:
        """The decoded keyset values, or None on the first page."""
        return decode_cursor(self.cursor) if self.cursor else None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = msgspec.json.decode(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, msgspec.DecodeError):
        raise RuleViolated(field="cursor", message="not a cursor this API issued") from None
    if not isinstance(values, list):
        raise RuleViolated(field="cursor", message="not a cursor this API issued")
    return values


def provide_page_request(
    limit: Annotated[int, Parameter(ge=1, le=100, description="Page size (1–100)")] = 20,
    cursor: Annotated[
        str | None, Parameter(max_length=512, description="Opaque cursor from next_cursor")
    ] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)
