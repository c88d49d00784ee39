"""A consuming module for bus tests: counts each `Ping` it handles, per ping.

`tally_module(name, source)` builds one with its own tables, consuming the pings
`source` publishes, so tests sharing one broker never share a topic or a group.
A ping whose key starts with `poison` makes the handler fail every time.
"""

from __future__ import annotations

from types import new_class
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, select
from sqlalchemy.dialects.sqlite import insert

from cloudtaskhub.events.contract import Event, event_type
from cloudtaskhub.module import HandlerContext, Module, Subscription
from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["ping_contract", "tallies", "tally_module"]


def ping_contract(source: str) -> type[Event]:
    """`cloudtaskhub.<source>.ping.v1` with data `{key, seq}`, keyed by `key`."""

    def body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = {"key": str, "seq": int}
        namespace["__event_type__"] = event_type(source, "ping", 1)
        namespace["__subject__"] = "key"

    return new_class("Ping", (Event,), {"frozen": True}, body)


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        f"{name}_tally",
        metadata,
        Column("key", String(100), primary_key=True),
        Column("seq", Integer, primary_key=True),
        Column("times", Integer, nullable=False),
    )


def tally_module(name: str, source: str) -> Module:
    metadata = MetaData()
    table = _table(metadata, name)
    ping = ping_contract(source)

    async def count_ping(event: Any, ctx: HandlerContext) -> None:
        if event.key.startswith("poison"):
            raise ValueError(f"poison pill {event.key}")
        async with ctx.module.uow.transaction() as tx:
            statement = insert(table).values(key=event.key, seq=event.seq, times=1)
            await tx.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["key", "seq"], set_={"times": table.c.times + 1}
                )
            )

    return Module(
        name=name,
        description="test consumer counting pings",
        metadata=metadata,
        subscriptions=[Subscription(ping, count_ping)],
    )


async def tallies(module: ModuleRuntime) -> dict[tuple[str, int], int]:
    """(key, seq) -> how many times its effect was applied."""
    table = module.module.metadata.tables[f"{module.name}_tally"]
    async with module.uow.read() as session:
        rows = (await session.execute(select(table))).all()
    return {(row.key, row.seq): row.times for row in rows}
