"""The CloudEvents 1.0 envelope every event travels in, on both buses."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from uuid import UUID

import msgspec

from cloudtaskhub.events.contract import Event

__all__ = ["DecodeError", "Envelope", "decode_data"]

E = TypeVar("E", bound=Event)


class DecodeError(Exception):
    """An event whose data does not fit its contract: a poison message."""


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    source: str
    type: str
    time: datetime
    subject: str
    #: The contract Struct encoded as JSON, kept raw so relays never decode it.
    data: msgspec.Raw
    specversion: str = "1.0"
    datacontenttype: str = "application/json"
    traceparent: str | None = None
    tracestate: str | None = None
    correlationid: str | None = None

    def encode(self) -> bytes:
        return msgspec.json.encode(self)

    @classmethod
    def decode(cls, payload: bytes) -> Envelope:
        return msgspec.json.decode(payload, type=cls)


def decode_data(envelope: Envelope, contract: type[E]) -> E:
    try:
        return msgspec.json.decode(envelope.data, type=contract)
    except msgspec.ValidationError as error:
        raise DecodeError(f"{envelope.type} {envelope.id}: {error}") from error
    except msgspec.DecodeError as error:
        raise DecodeError(f"{envelope.type} {envelope.id}: malformed JSON: {error}") from error
