"""Envelope <-> Kafka record, CloudEvents binary content mode.

The CloudEvents attributes travel as `ce_*` headers, W3C trace context as
`traceparent` / `tracestate`, the contract JSON as the record value, and the
subject (aggregate id) as the key, so one aggregate's events share a partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from cloudtaskhub.events.envelope import Envelope

__all__ = [
    "Headers",
    "MalformedRecord",
    "envelope_from_record",
    "failure_headers",
    "options_repr",
    "record_for",
]

Headers = list[tuple[str, bytes]]


class MalformedRecord(Exception):
    """A record that is not a CloudEvent we can read (missing or bad `ce_*` headers)."""


def _rfc3339(moment: datetime) -> bytes:
    return msgspec.json.encode(moment).strip(b'"')


def record_for(envelope: Envelope) -> tuple[bytes, bytes, Headers]:
    """Key, value and headers of the record carrying `envelope`."""
    headers: Headers = [
        ("ce_specversion", envelope.specversion.encode()),
        ("ce_id", str(envelope.id).encode()),
        ("ce_source", envelope.source.encode()),
        ("ce_type", envelope.type.encode()),
        ("ce_time", _rfc3339(envelope.time)),
        ("ce_subject", envelope.subject.encode()),
        ("content-type", envelope.datacontenttype.encode()),
    ]
    optional = (
        ("traceparent", envelope.traceparent),
        ("tracestate", envelope.tracestate),
        ("ce_correlationid", envelope.correlationid),
    )
    headers.extend((name, value.encode()) for name, value in optional if value)
    return envelope.subject.encode(), bytes(envelope.data), headers


def envelope_from_record(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> Envelope:
    found: dict[str, str] = {}
    try:
        for name, raw in headers:
            found[name] = raw.decode()
        return Envelope(
            id=UUID(found["ce_id"]),
            source=found["ce_source"],
            type=found["ce_type"],
            time=msgspec.json.decode(f'"{found["ce_time"]}"'.encode(), type=datetime),
            subject=found.get("ce_subject", ""),
            data=msgspec.Raw(value or b"null"),
            specversion=found.get("ce_specversion", "1.0"),
            datacontenttype=found.get("content-type", "application/json"),
            traceparent=found.get("traceparent"),
            tracestate=found.get("tracestate"),
            correlationid=found.get("ce_correlationid"),
        )
    except (KeyError, ValueError, UnicodeDecodeError, msgspec.DecodeError) as error:
        raise MalformedRecord(f"not a CloudEvent: {type(error).__name__}: {error}") from error


def failure_headers(
    headers: Sequence[tuple[str, bytes]], error: str, attempts: int, failed_at: datetime
) -> Headers:
    """The original headers plus why, how often and when the consumer gave up."""
    kept = [(name, value) for name, value in headers if not name.startswith("cth_")]
    return [
        *kept,
        ("cth_error", error[:4000].encode()),
        ("cth_attempts", str(attempts).encode()),
        ("cth_failed_at", _rfc3339(failed_at)),
    ]


def options_repr(options: dict[str, Any]) -> str:
    """Client options for logs, without secrets."""
    shown = {k: v for k, v in options.items() if "password" not in k and k != "ssl_context"}
    return ", ".join(f"{k}={v}" for k, v in shown.items())
