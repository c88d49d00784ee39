"""Optimistic concurrency over HTTP: `ETag: "<version>"` out, `If-Match` in."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from cloudtaskhub.errors import RuleViolated

__all__ = ["etag", "provide_expected_version"]


_MAX_DIGITS = 18


def etag(version: int) -> str:
    return f'"{version}"'


def provide_expected_version(
    if_match: Annotated[
        str | None, Parameter(header="If-Match", description='"<version>" from the ETag')
    ] = None,
) -> int | None:
    """The version the client last saw, or None when it sent no If-Match."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    # ASCII digits only (str.isdigit() accepts "²", which int() refuses), and few enough
    # for a 64-bit version column (5,000 digits made int() itself refuse).
    if not (value.isascii() and value.isdigit() and len(value) <= _MAX_DIGITS):
        raise RuleViolated(field="If-Match", message='expected "<version>" as sent in ETag')
    return int(value)
