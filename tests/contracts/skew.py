"""Modules for version-skew tests: a producer in its old and new version, readers of each.

`ParcelShipped` goes from v1 `{parcel_id, destination}` to a breaking v2
`{parcel_id, address, weight_grams}` (renamed field, new required field), and v2
declares v1 as its previous version. Contracts and modules are built per source
name, so tests sharing one Kafka broker never share a topic or a consumer group.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import new_class
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Integer, MetaData, String, Table, select, update

from cloudtaskhub.events.contract import Event, event_type
from cloudtaskhub.module import HandlerContext, Module, Subscription
from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["Contracts", "contracts_for", "effects", "producer", "reader"]


@dataclass(frozen=True)
class Contracts:
    v1: type[Event]
    v2: type[Event]

    def old(self, parcel_id: UUID, destination: str) -> Event:
        return self.v1(parcel_id=parcel_id, destination=destination)  # type: ignore[call-arg]

    def new(self, parcel_id: UUID, address: str, weight_grams: int = 500) -> Event:
        return self.v2(parcel_id=parcel_id, address=address, weight_grams=weight_grams)  # type: ignore[call-arg]


def contracts_for(source: str) -> Contracts:
    def v1_body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = {"parcel_id": UUID, "destination": str}
        namespace["__event_type__"] = event_type(source, "parcel_shipped", 1)
        namespace["__subject__"] = "parcel_id"

    v1 = new_class("ParcelShipped", (Event,), {"frozen": True}, v1_body)

    def downgrade(event: Any) -> Event:
        return v1(parcel_id=event.parcel_id, destination=event.address)  # type: ignore[no-any-return]

    def v2_body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = {"parcel_id": UUID, "address": str, "weight_grams": int}
        namespace["__event_type__"] = event_type(source, "parcel_shipped", 2)
        namespace["__subject__"] = "parcel_id"
        namespace["__previous__"] = (v1, downgrade)

    v2 = new_class("ParcelShippedV2", (Event,), {"frozen": True}, v2_body)
    return Contracts(v1, v2)


def producer(source: str, publishes: type[Event]) -> Module:
    """The publishing module, in the version that publishes `publishes`."""
    return Module(name=source, description="ships parcels", publishes=[publishes])


def reader(name: str, contract: type[Event]) -> Module:
    """A consumer counting how often each parcel's effect was applied (not idempotent itself)."""
    metadata = MetaData()
    table = Table(
        f"{name}_parcels",
        metadata,
        Column("parcel_id", String(36), primary_key=True),
        Column("destination", String(200), nullable=False),
        Column("times", Integer, nullable=False),
    )

    async def count_parcel_when_shipped(event: Any, ctx: HandlerContext) -> None:
        destination = getattr(event, "address", None) or event.destination
        async with ctx.module.uow.transaction() as tx:
            key = str(event.parcel_id)
            found = await tx.session.scalar(select(table.c.times).where(table.c.parcel_id == key))
            if found is None:
                await tx.session.execute(
                    table.insert().values(parcel_id=key, destination=destination, times=1)
                )
            else:
                await tx.session.execute(
                    update(table).where(table.c.parcel_id == key).values(times=found + 1)
                )

    return Module(
        name=name,
        description=f"reads {contract.__event_type__}",
        metadata=metadata,
        subscriptions=[Subscription(contract, count_parcel_when_shipped)],
    )


async def effects(module: ModuleRuntime) -> dict[str, tuple[str, int]]:
    """parcel id -> (destination, times its effect was applied)."""
    table = module.module.metadata.tables[f"{module.name}_parcels"]
    async with module.uow.read() as session:
        rows = (await session.execute(select(table))).all()
    return {row.parcel_id: (row.destination, row.times) for row in rows}
