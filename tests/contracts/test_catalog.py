"""The event catalog over the module registry: every event type with its publishers and
subscribers. A listener nobody publishes to fails it.

Publishers are `Module.publishes` (plus the older versions a contract still declares,
dual-published); subscribers are `Module.subscriptions`; the kernel heartbeat
(source `*`) is published by every module's process.
"""

from __future__ import annotations

import pytest

from cloudtaskhub.docs import EventCatalog
from cloudtaskhub.events.heartbeat import Heartbeat
from cloudtaskhub.module import HandlerContext, Module, Subscription
from entrypoints.registry import ALL_MODULES
from tests.contracts.skew import contracts_for

CATALOG = EventCatalog(ALL_MODULES)


def listing(catalog: EventCatalog) -> str:
    return "\n".join(
        f"{e.type:<48} published by {', '.join(e.publishers) or 'NOBODY'}; "
        f"consumed by {', '.join(f'{s.module}.{s.handler}' for s in e.listeners) or 'nobody'}"
        for e in catalog.entries
    )


@pytest.mark.parametrize("entry", CATALOG.entries, ids=lambda e: e.short_type)
def test_every_event_type_someone_listens_to_has_a_publisher(entry):  # type: ignore[no-untyped-def]
    assert entry.publishers or not entry.listeners, (
        f"{entry.type} has listeners ({', '.join(f'{s.module}.{s.handler}' for s in entry.listeners)}) "
        f"but no module publishes it:\n{listing(CATALOG)}"
    )


@pytest.mark.parametrize("module", ALL_MODULES, ids=lambda m: m.name)
def test_every_module_is_in_the_catalog_with_its_publications_and_subscriptions(module: Module):
    published = {e.type for e in CATALOG.published_by(module.name)}
    consumed = {e.type for e in CATALOG.consumed_by(module.name)}

    assert {c.__event_type__ for c in module.publishes} | {Heartbeat.__event_type__} <= published
    assert {s.event.__event_type__ for s in module.subscriptions} == consumed


def test_the_heartbeat_is_published_by_every_module():
    entry = CATALOG.entry(Heartbeat.__event_type__)

    assert sorted(entry.publishers) == sorted(m.name for m in ALL_MODULES)


def test_every_declared_previous_version_is_an_older_version_of_the_same_event():
    for entry in CATALOG.entries:
        entry.contract.previous_versions()  # raises TypeError on a bad declaration


async def _ignore(event, ctx: HandlerContext) -> None:  # type: ignore[no-untyped-def]
    """A listener for the catalog self-tests below."""


def test_a_listener_nobody_publishes_to_is_reported():
    contracts = contracts_for("ghost")
    listener = Module(name="reader", description="r", subscriptions=[Subscription(contracts.v1, _ignore)])

    orphans = EventCatalog([listener]).orphan_listeners()

    assert [(e.type, s.module, s.handler) for e, s in orphans] == [
        ("cloudtaskhub.ghost.parcel_shipped.v1", "reader", "_ignore")
    ]


def test_an_older_version_still_declared_counts_as_published_by_the_new_versions_publisher():
    contracts = contracts_for("ghost")
    publisher = Module(name="ghost", description="p", publishes=[contracts.v2])
    old_reader = Module(name="reader", description="r", subscriptions=[Subscription(contracts.v1, _ignore)])

    catalog = EventCatalog([publisher, old_reader])

    assert catalog.orphan_listeners() == []
    assert catalog.entry(contracts.v1.__event_type__).successor is contracts.v2
