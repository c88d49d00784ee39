"""A process that records pings and consumes them in batches on the in-process bus,
SQLite, until everything is handled; optionally SIGKILLs itself mid-batch.

    python -m tests.support.batch_process <database_url> <events> <kill_at_seq|-1>

The consumer counts each ping it applies (`times`), one lane, batches of at most
`BATCH_MAX`. With `kill_at_seq` >= 0 the handler kills the process when it reaches
that ping, after the pings before it in the same batch ran in their savepoints and
before the batch's commit. Without, it exits 0 once outbox and consumer are drained.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.dialects.sqlite import insert

from cloudtaskhub.events.memory import InProcessBus
from cloudtaskhub.module import HandlerContext, Module, Subscription
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.testing import test_settings
from tests.kernel.spine import publisher_module
from tests.support.tally import ping_contract

SOURCE = "crashpub"
CONSUMER = "crashtally"
BATCH_MAX = 50


def consumer(kill_at: int) -> Module:
    metadata = MetaData()
    table = Table(
        f"{CONSUMER}_tally",
        metadata,
        Column("key", String(100), primary_key=True),
        Column("seq", Integer, primary_key=True),
        Column("times", Integer, nullable=False),
    )

    async def count_ping(event: Any, ctx: HandlerContext) -> None:
        if event.seq == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        async with ctx.module.uow.transaction() as tx:
            statement = insert(table).values(key=event.key, seq=event.seq, times=1)
            await tx.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["key", "seq"], set_={"times": table.c.times + 1}
                )
            )

    return Module(
        name=CONSUMER,
        description="counts pings",
        metadata=metadata,
        subscriptions=[Subscription(ping_contract(SOURCE), count_ping)],
    )


async def main(database_url: str, events: int, kill_at: int) -> None:
    data_dir = Path(database_url.rsplit("///", 1)[-1]).parent
    settings = test_settings(database_url, str(data_dir))
    bus = InProcessBus(lanes=1, batch_max=BATCH_MAX)
    runtime = Runtime([publisher_module(SOURCE), consumer(kill_at)], settings, bus=bus)
    await runtime.start(background=False)
    try:
        publisher = runtime.module(SOURCE)
        outbox = publisher.tables.outbox
        async with publisher.uow.read() as session:
            recorded = await session.scalar(select(func.count()).select_from(outbox))
        if not recorded:
            ping = ping_contract(SOURCE)
            async with publisher.uow.transaction() as tx:
                for seq in range(events):
                    await tx.record(ping(key=f"key-{seq % 7}", seq=seq))
        await runtime.drain()
        print("drained", flush=True)
    finally:
        await runtime.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
