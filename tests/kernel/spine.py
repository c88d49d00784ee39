"""Small modules for tests of the event spine: a publisher of pings and consumers that
remember what they handled, in order, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy import event as sqlalchemy_event

from cloudtaskhub.module import HandlerContext, Module, Subscription
from cloudtaskhub.runtime import ModuleRuntime
from tests.support.tally import ping_contract

__all__ = ["Handled", "consumer_module", "publisher_module", "record_pings", "rows_handled"]

#: Runs before the handler's own work; raising from it makes the attempt fail.
Hook = Callable[[Any], Any]


def publisher_module(name: str) -> Module:
    return Module(
        name=name, description="publishes pings", metadata=MetaData(), publishes=[ping_contract(name)]
    )


class Handled:
    """What a consumer module's handler saw, in the order its handler finished."""

    def __init__(self) -> None:
        self.order: list[tuple[str, int]] = []
        self.attempts = 0

    def seqs_by_key(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for key, seq in self.order:
            found.setdefault(key, []).append(seq)
        return found


def consumer_module(name: str, source: str, handled: Handled, before: Hook | None = None) -> Module:
    """Consumes `source`'s pings: one row per (key, seq) in `<name>_seen` (a repeat would
    violate its primary key), and `handled.order` appended once the row is committed (a
    batch rolled back and run again, see `dispatcher`, runs a handler twice, commits once)."""
    metadata = MetaData()
    table = Table(
        f"{name}_seen",
        metadata,
        Column("key", String(100), primary_key=True),
        Column("seq", Integer, primary_key=True),
    )

    async def remember_ping(event: Any, ctx: HandlerContext) -> None:
        handled.attempts += 1
        if before is not None:
            await before(event)
        async with ctx.module.uow.transaction() as tx:
            await tx.session.execute(table.insert().values(key=event.key, seq=event.seq))
            sqlalchemy_event.listen(
                tx.session.sync_session,
                "after_commit",
                lambda _session, seen=(event.key, event.seq): handled.order.append(seen),
                once=True,
            )

    return Module(
        name=name,
        description="remembers pings",
        metadata=metadata,
        subscriptions=[Subscription(ping_contract(source), remember_ping)],
    )


async def rows_handled(module: ModuleRuntime) -> int:
    table = module.module.metadata.tables[f"{module.name}_seen"]
    async with module.uow.read() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def record_pings(module: ModuleRuntime, pings: list[tuple[str, int]]) -> None:
    """Commit `pings` (key, seq) from `module`'s outbox, one transaction for all."""
    ping = ping_contract(module.name)
    async with module.uow.transaction() as tx:
        for key, seq in pings:
            await tx.record(ping(key=key, seq=seq))
