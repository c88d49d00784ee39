"""Dual publishing: which envelopes the relay sends for a contract with a previous version."""

from __future__ import annotations

from datetime import UTC, datetime
from types import new_class
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest

from cloudtaskhub.events.contract import Event, event_type
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.versions import DualPublishing
from tests.contracts.skew import contracts_for

C = contracts_for("shipping")


def envelope_of(event: Event) -> Envelope:
    return Envelope(
        id=uuid4(),
        source="shipping",
        type=event.__event_type__,
        time=datetime.now(UTC),
        subject=event.subject(),
        data=msgspec.Raw(msgspec.json.encode(event)),
        correlationid="request-1",
    )


def test_a_new_version_goes_out_after_its_previous_version_with_the_same_id_and_attributes():
    original = envelope_of(C.new(uuid4(), "Oslo", 900))

    old, new = DualPublishing([C.v2]).expand(original)

    assert new is original
    assert old.type == C.v1.__event_type__
    assert (old.id, old.subject, old.time, old.correlationid) == (
        new.id,
        new.subject,
        new.time,
        new.correlationid,
    )
    assert msgspec.json.decode(old.data) == {"parcel_id": new.subject, "destination": "Oslo"}


@pytest.mark.parametrize(
    ("setting", "dual"),
    [
        (("all",), True),
        (("true",), True),
        (("none",), False),
        (("false",), False),
        (("shipping.parcel_shipped.v2",), True),
        (("cloudtaskhub.shipping.parcel_shipped.v2",), True),
        (("billing.invoice_issued.v2",), False),
    ],
)
def test_the_setting_chooses_which_types_are_dual_published(setting: tuple[str, ...], dual: bool):
    sent = DualPublishing([C.v2], setting).expand(envelope_of(C.new(uuid4(), "Oslo")))

    assert len(sent) == (2 if dual else 1)


def test_a_contract_without_previous_version_goes_out_alone():
    original = envelope_of(C.old(uuid4(), "Oslo"))

    assert DualPublishing([C.v1, C.v2]).expand(original) == [original]


def _version(number: int, previous: Any = None, fields: dict[str, Any] | None = None) -> type[Event]:
    def body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = fields or {"parcel_id": UUID}
        namespace["__event_type__"] = event_type("shipping", "parcel_lost", number)
        namespace["__subject__"] = "parcel_id"
        if previous is not None:
            namespace["__previous__"] = previous

    return new_class(f"ParcelLostV{number}", (Event,), {"frozen": True}, body)


def test_a_chain_of_versions_goes_out_oldest_first():
    v1 = _version(1)
    v2 = _version(2, (v1, lambda e: v1(parcel_id=e.parcel_id)))
    v3 = _version(3, (v2, lambda e: v2(parcel_id=e.parcel_id)))

    sent = DualPublishing([v3]).expand(envelope_of(v3(parcel_id=uuid4())))

    assert [e.type for e in sent] == [v1.__event_type__, v2.__event_type__, v3.__event_type__]
    assert v3.previous_versions() == [v2, v1]


def test_a_previous_version_must_be_an_older_version_of_the_same_event():
    other = new_class(
        "Other",
        (Event,),
        {"frozen": True},
        lambda ns: ns.update(
            {
                "__annotations__": {"parcel_id": UUID},
                "__event_type__": event_type("shipping", "parcel_found", 1),
                "__subject__": "parcel_id",
            }
        ),
    )
    wrong = _version(2, (other, lambda e: other(parcel_id=e.parcel_id)))

    with pytest.raises(TypeError, match=r"cannot declare cloudtaskhub\.shipping\.parcel_found\.v1"):
        wrong.previous_versions()
