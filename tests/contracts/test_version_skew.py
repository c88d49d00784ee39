"""Version skew on the in-process bus: old and new producers and consumers side by side.

The Kafka variant is in tests/contracts/test_version_skew_kafka.py.
"""

from __future__ import annotations

from uuid import uuid4

import msgspec
import pytest
from prometheus_client import REGISTRY

from cloudtaskhub.clock import new_id
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.testing import ModuleHarness
from tests.contracts.skew import contracts_for, effects, producer, reader

C = contracts_for("shipping")


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    modules = [producer("shipping", C.v2), reader("legacy", C.v1), reader("current", C.v2)]
    async with ModuleHarness(modules, database_url=database_url, data_dir=str(tmp_path)) as h:
        yield h


async def record(harness, *events) -> None:  # type: ignore[no-untyped-def]
    async with harness.runtime.module("shipping").uow.transaction() as tx:
        for event in events:
            await tx.record(event)
    await harness.settle()


async def test_old_and_new_readers_each_get_every_fact_while_old_and_new_producers_run(harness):  # type: ignore[no-untyped-def]
    from_old, from_new = uuid4(), uuid4()

    await record(harness, C.old(from_old, "Lyon"))  # an old producer replica: v1 only
    await record(harness, C.new(from_new, "Oslo"))  # a new replica: v2, and v1 for old readers

    assert await effects(harness.runtime.module("legacy")) == {
        str(from_old): ("Lyon", 1),
        str(from_new): ("Oslo", 1),
    }
    assert await effects(harness.runtime.module("current")) == {str(from_new): ("Oslo", 1)}
    for name in ("shipping", "legacy", "current"):
        assert await harness.runtime.module(name).dead_letter_count() == 0
        assert (await harness.runtime.module(name).outbox_status()).pending == 0


async def test_both_versions_of_a_fact_share_one_event_id_older_first(harness):  # type: ignore[no-untyped-def]
    await record(harness, C.new(uuid4(), "Oslo"))

    first, second = [e for e in harness.bus.published if "parcel_shipped" in e.type]

    assert (first.type, second.type) == (C.v1.__event_type__, C.v2.__event_type__)
    assert first.id == second.id
    assert msgspec.json.decode(first.data)["destination"] == "Oslo"


async def test_with_dual_publishing_off_only_the_new_version_goes_out(database_url, tmp_path):  # type: ignore[no-untyped-def]
    modules = [producer("shipping", C.v2), reader("legacy", C.v1), reader("current", C.v2)]
    async with ModuleHarness(
        modules, database_url=database_url, data_dir=str(tmp_path), dual_publish=("none",)
    ) as harness:
        parcel = uuid4()

        await record(harness, C.new(parcel, "Oslo"))

        assert [e.type for e in harness.bus.published if "parcel_shipped" in e.type] == [C.v2.__event_type__]
        assert await effects(harness.runtime.module("legacy")) == {}
        assert await effects(harness.runtime.module("current")) == {str(parcel): ("Oslo", 1)}


async def test_a_consumer_rolling_update_applies_each_fact_once(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [producer("shipping", C.v2)], database_url=database_url, data_dir=str(tmp_path / "producer")
    ) as shipping:
        for city in ("Oslo", "Lyon", "Kyiv"):
            await record(shipping, C.new(uuid4(), city))
    # One consumer module, two replicas on its one database: the old one reads v1, the new
    # one v2. A partition moving between them hands each replica some copies; worst case
    # both get every copy.
    old = ModuleHarness([reader("reader", C.v1)], database_url=database_url, data_dir=str(tmp_path / "old"))
    new = ModuleHarness([reader("reader", C.v2)], database_url=database_url, data_dir=str(tmp_path / "new"))
    async with old, new:
        for envelope in [e for e in shipping.bus.published if "parcel_shipped" in e.type]:
            await old.deliver(envelope)
            await new.deliver(envelope)

        applied = await effects(new.runtime.module("reader"))

    assert sorted(applied.values()) == [("Kyiv", 1), ("Lyon", 1), ("Oslo", 1)]


async def test_an_old_reader_ignores_fields_it_does_not_know(harness):  # type: ignore[no-untyped-def]
    parcel = uuid4()
    data = {"parcel_id": str(parcel), "destination": "Rome", "insured": True, "tags": ["fragile"]}

    await harness.deliver(_envelope(C.v1.__event_type__, parcel, data))

    assert await effects(harness.runtime.module("legacy")) == {str(parcel): ("Rome", 1)}
    assert await harness.runtime.module("legacy").dead_letter_count() == 0


async def test_an_unknown_event_type_is_skipped_with_a_metric_not_dead_lettered(harness):  # type: ignore[no-untyped-def]
    legacy = harness.runtime.module("legacy")
    labels = {"module": "legacy", "reason": "unknown_type"}
    before = REGISTRY.get_sample_value("cloudtaskhub_events_skipped_total", labels) or 0.0
    parcel = uuid4()

    assert legacy.dispatcher is not None
    await legacy.dispatcher.handle(
        _envelope("cloudtaskhub.shipping.parcel_shipped.v3", parcel, {"parcel_id": str(parcel)})
    )

    assert REGISTRY.get_sample_value("cloudtaskhub_events_skipped_total", labels) == before + 1
    assert await legacy.dead_letter_count() == 0
    assert await effects(legacy) == {}


def _envelope(type_: str, parcel, data: dict) -> Envelope:  # type: ignore[no-untyped-def, type-arg]
    return Envelope(
        id=new_id(),
        source="shipping",
        type=type_,
        time=msgspec.json.decode(b'"2026-01-01T00:00:00Z"', type=__import__("datetime").datetime),
        subject=str(parcel),
        data=msgspec.Raw(msgspec.json.encode(data)),
    )
