"""The heartbeat every process publishes for each module it runs.

It is a kernel contract because every module publishes it (as
`cloudtaskhub.<module>.heartbeat.v1`); the gateway builds the live topology
from it. Heartbeats are not durable: a lost one is replaced by the next.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from cloudtaskhub.clock import new_id
from cloudtaskhub.events.contract import Event, event_type
from cloudtaskhub.events.envelope import Envelope

if TYPE_CHECKING:
    from cloudtaskhub.runtime import Runtime

__all__ = ["Heartbeat", "process_id", "publish_heartbeats"]

log = logging.getLogger("cloudtaskhub.heartbeat")


class Heartbeat(Event, frozen=True):
    """`module` is alive in `process`, running `version` on `bus`."""

    __event_type__ = event_type("*", "heartbeat", 1)
    __subject__ = "process"
    __durable__ = False

    module: str
    process: str
    version: str
    bus: str
    outbox_backlog: int
    sent_at: datetime
    #: Dead letters this module holds and has not replayed.
    dead_letters: int = 0


def process_id(name: str = "") -> str:
    return name or f"{socket.gethostname()}:{os.getpid()}"


async def publish_heartbeats(runtime: Runtime) -> None:
    """Publish one heartbeat per mounted module every interval, until cancelled."""
    while True:
        try:
            await publish_heartbeat_once(runtime)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("heartbeat failed: %s", error)
        await asyncio.sleep(runtime.settings.heartbeat_interval_seconds)


async def publish_heartbeat_once(runtime: Runtime) -> Sequence[asyncio.Future[None]]:
    """Publish one heartbeat per module; the futures settle when consumers took them."""
    envelopes = []
    for module in runtime.modules.values():
        # A module whose database fails sends no heartbeat (and so shows as not alive);
        # the other modules of this process still do.
        try:
            status = await module.outbox_status()
            dead_letters = await module.dead_letter_count()
        except Exception as error:
            log.warning("no heartbeat for %s: %s", module.name, error)
            continue
        beat = Heartbeat(
            module=module.name,
            process=runtime.process,
            version=runtime.settings.version,
            bus=runtime.bus.kind,
            outbox_backlog=status.pending,
            sent_at=runtime.clock.now(),
            dead_letters=dead_letters,
        )
        envelopes.append(
            Envelope(
                id=new_id(),
                source=module.name,
                type=beat.type_for(module.name),
                time=beat.sent_at,
                subject=beat.subject(),
                data=msgspec.Raw(msgspec.json.encode(beat)),
            )
        )
    return await runtime.bus.publish(envelopes)
