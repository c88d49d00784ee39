"""Gateway use cases: keep the live topology and describe it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from cloudtaskhub.clock import Clock
from cloudtaskhub.db import UnitOfWork
from cloudtaskhub.events.heartbeat import Heartbeat
from cloudtaskhub.runtime import ModuleRuntime
from modules.gateway.models import ProcessModel

__all__ = ["StatusService", "Topology", "provide_status_service"]

#: A process that missed this many heartbeats is shown as not alive.
MISSED_BEATS_ALLOWED = 3
#: Processes silent for this long are forgotten.
FORGET_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class Topology:
    processes: list[ProcessModel]
    alive_after: datetime

    @property
    def mode(self) -> str:
        alive = [p for p in self.processes if p.last_seen >= self.alive_after]
        if not alive:
            return "unknown"
        return "all-in-one" if any(
            len({p.module for p in alive if p.process == process}) > 1 for process in {p.process for p in alive}
        ) else "split"


class StatusService:
    def __init__(self, uow: UnitOfWork, clock: Clock, heartbeat_interval: float) -> None:
        self._uow = uow
        self._clock = clock
        self._interval = heartbeat_interval

    async def record_heartbeat(self, beat: Heartbeat) -> None:
        """Remember the latest heartbeat of (module, process); older ones never win."""
        async with self._uow.transaction() as tx:
            row = await tx.session.get(ProcessModel, (beat.module, beat.process))
            if row is None:
                row = ProcessModel(module=beat.module, process=beat.process, last_seen=beat.sent_at)
                tx.session.add(row)
            elif row.last_seen > beat.sent_at:
                return
            row.version = beat.version
            row.bus = beat.bus
            row.outbox_backlog = beat.outbox_backlog
            row.dead_letters = beat.dead_letters
            row.last_seen = beat.sent_at
            await tx.session.execute(
                delete(ProcessModel).where(ProcessModel.last_seen < self._clock.now() - FORGET_AFTER)
            )

    async def topology(self) -> Topology:
        async with self._uow.read() as session:
            rows = list(
                (await session.scalars(select(ProcessModel).order_by(ProcessModel.module, ProcessModel.process))).all()
            )
        alive_after = self._clock.now() - timedelta(seconds=self._interval * MISSED_BEATS_ALLOWED)
        return Topology(rows, alive_after)


def provide_status_service(module: ModuleRuntime) -> StatusService:
    return StatusService(module.uow, module.clock, module.settings.heartbeat_interval_seconds)
