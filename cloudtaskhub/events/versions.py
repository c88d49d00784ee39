"""Dual publishing: an event of a new contract version also goes out in the old one.

During a version transition a contract names its predecessor (`__previous__`).
The relay then publishes each outbox row as the older versions first, then the
row itself — all under the row's event id. Sharing the id is what makes a rolling
update of a consumer safe: its old replicas handle `v1`, its new ones `v2`, both
claim the same id in the module's inbox, so each fact takes effect exactly once
whichever replica gets which copy. Older copies go first so that a consumer that
knows only the old version never misses a fact at a partition hand-over.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from cloudtaskhub.events.contract import Event
from cloudtaskhub.events.envelope import Envelope, decode_data

__all__ = ["DualPublishing"]

_ALL = {"all", "true", "yes", "on", "1"}
_NONE = {"none", "false", "no", "off", "0"}


class DualPublishing:
    """Expands envelopes of `contracts` into every enabled older version."""

    def __init__(self, contracts: Sequence[type[Event]], enabled: Sequence[str] = ("all",)) -> None:
        wanted = {value.strip().lower() for value in enabled if value.strip()}
        self._by_type: dict[str, type[Event]] = {}
        for contract in contracts:
            if not contract.previous_versions():
                continue
            short = contract.__event_type__.removeprefix("cloudtaskhub.")
            if wanted & _ALL or {short, contract.__event_type__} & wanted:
                self._by_type[contract.__event_type__] = contract
        if wanted & _NONE and not wanted & _ALL:
            self._by_type.clear()

    @property
    def types(self) -> frozenset[str]:
        """The event types published in their older versions too."""
        return frozenset(self._by_type)

    def expand(self, envelope: Envelope) -> list[Envelope]:
        """`envelope` preceded by its older versions (oldest first), all with its id."""
        contract = self._by_type.get(envelope.type)
        if contract is None:
            return [envelope]
        event = decode_data(envelope, contract)
        copies = [
            msgspec.structs.replace(
                envelope,
                type=older.type_for(envelope.source),
                data=msgspec.Raw(msgspec.json.encode(older)),
            )
            for older in reversed(event.downgrade())
        ]
        return [*copies, envelope]
