"""Optimistic concurrency over HTTP: `ETag: "<version>"` out, `If-Match` in."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from cloudtaskhub.errors import RuleViolated

__all__ = ["etag", "provide_expected_version"]


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
    if not value.isdigit():
        raise RuleViolated(field="If-Match", message='expected "<version>" as sent in ETag')
    return int(value)
