"""Per-module operations API for admins: dead letters and recent event rates.

Every mounted module gets the same small router under its own primary prefix
(its first path prefix under `/api/`), e.g. `/api/v1/billing/admin/...`. Because
the path lies inside a prefix the module declares, Traefik routes it to the
process running that module, so each process answers only for its own dead
letters and its own outbox, in either deployment shape:

    GET  <prefix>/admin/dead-letters              pending dead letters (`?include_replayed=true`)
    POST <prefix>/admin/dead-letters/replay       replay every pending one
    POST <prefix>/admin/dead-letters/{id}/replay  replay one
    GET  <prefix>/admin/events?minutes=15         events this module published, per minute and type

Replaying runs the module's own dispatcher (`Dispatcher.replay`): the same
inbox-guarded handler call as a delivery from the bus, never a call into
another module.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Router, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy import select

from cloudtaskhub.errors import Conflict, NotFound
from cloudtaskhub.events.relay import RETENTION
from cloudtaskhub.http.auth import requires_admin
from cloudtaskhub.module import Module
from cloudtaskhub.runtime import ModuleRuntime, Runtime
from cloudtaskhub.security import Principal

__all__ = ["admin_path", "module_admin_router"]

#: Outbox rows are purged after RETENTION, so rates older than that are unknown.
MAX_MINUTES = int(RETENTION.total_seconds() // 60)


class DeadLetterNotFound(NotFound):
    template = "dead letter {dead_letter_id} not found in module {module}"


class ReplayFailed(Conflict):
    template = "the handler failed again, the dead letter stays: {error}"


class DeadLetter(msgspec.Struct):
    id: UUID
    event_id: UUID
    type: str
    error: str
    attempts: int
    failed_at: datetime
    replayed_at: datetime | None


class DeadLetters(msgspec.Struct):
    module: str
    items: list[DeadLetter]


class Replayed(msgspec.Struct):
    module: str
    replayed: list[UUID]
    #: Dead letter id -> why its handler failed again.
    failed: dict[str, str]


class MinuteCount(msgspec.Struct):
    minute: datetime
    type: str
    count: int


class EventRates(msgspec.Struct):
    module: str
    since: datetime
    until: datetime
    per_minute: list[MinuteCount]


def admin_path(module: Module) -> str | None:
    """`<primary prefix>/admin`, or None for a module serving nothing under `/api/`."""
    primary = next((p for p in module.path_prefixes if p.startswith("/api/")), None)
    return f"{primary.rstrip('/')}/admin" if primary else None


async def _pending_ids(module: ModuleRuntime) -> list[UUID]:
    table = module.tables.dead_letters
    async with module.uow.read() as session:
        rows = await session.scalars(
            select(table.c.id).where(table.c.replayed_at.is_(None)).order_by(table.c.failed_at)
        )
        return list(rows)


async def _replay(module: ModuleRuntime, dead_letter_id: UUID) -> None:
    if module.dispatcher is None:
        raise DeadLetterNotFound(dead_letter_id=dead_letter_id, module=module.name)
    try:
        await module.dispatcher.replay(dead_letter_id)
    except LookupError:
        raise DeadLetterNotFound(dead_letter_id=dead_letter_id, module=module.name) from None


@get("/dead-letters", summary="This module's dead letters (admins)")
async def list_dead_letters(
    principal: Principal,
    operated: ModuleRuntime,
    include_replayed: Annotated[bool, Parameter(description="Also list replayed ones")] = False,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
) -> DeadLetters:
    requires_admin(principal)
    table = operated.tables.dead_letters
    query = select(table).order_by(table.c.failed_at.desc()).limit(limit)
    if not include_replayed:
        query = query.where(table.c.replayed_at.is_(None))
    async with operated.uow.read() as session:
        rows = (await session.execute(query)).all()
    return DeadLetters(
        module=operated.name,
        items=[
            DeadLetter(
                id=row.id,
                event_id=row.event_id,
                type=row.type,
                error=row.error,
                attempts=row.attempts,
                failed_at=row.failed_at,
                replayed_at=row.replayed_at,
            )
            for row in rows
        ],
    )


@post("/dead-letters/replay", status_code=200, summary="Replay every pending dead letter (admins)")
async def replay_dead_letters(principal: Principal, operated: ModuleRuntime) -> Replayed:
    requires_admin(principal)
    replayed: list[UUID] = []
    failed: dict[str, str] = {}
    for dead_letter_id in await _pending_ids(operated):
        try:
            await _replay(operated, dead_letter_id)
        except DeadLetterNotFound:
            continue  # replayed concurrently by another request
        except Exception as error:  # the handler's own failure: report it, keep going
            failed[str(dead_letter_id)] = f"{type(error).__name__}: {error}"[:500]
        else:
            replayed.append(dead_letter_id)
    return Replayed(module=operated.name, replayed=replayed, failed=failed)


@post("/dead-letters/{dead_letter_id:uuid}/replay", status_code=200, summary="Replay one dead letter")
async def replay_dead_letter(dead_letter_id: UUID, principal: Principal, operated: ModuleRuntime) -> Replayed:
    requires_admin(principal)
    try:
        await _replay(operated, dead_letter_id)
    except DeadLetterNotFound:
        raise
    except Exception as error:
        raise ReplayFailed(error=f"{type(error).__name__}: {error}"[:500]) from error
    return Replayed(module=operated.name, replayed=[dead_letter_id], failed={})


@get("/events", summary="Events this module published, per minute and type (admins)")
async def event_rates(
    principal: Principal,
    operated: ModuleRuntime,
    minutes: Annotated[int, Parameter(ge=1, le=MAX_MINUTES, description="Window, in minutes")] = 15,
) -> EventRates:
    requires_admin(principal)
    until = operated.clock.now()
    since = until.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    outbox = operated.tables.outbox
    async with operated.uow.read() as session:
        rows = (
            await session.execute(select(outbox.c.type, outbox.c.time).where(outbox.c.time >= since))
        ).all()
    # Counted here rather than with GROUP BY: truncating to the minute is dialect-specific,
    # and the outbox holds at most RETENTION of rows.
    counts: dict[tuple[datetime, str], int] = {}
    for row in rows:
        minute = row.time.replace(second=0, microsecond=0)
        counts[(minute, row.type)] = counts.get((minute, row.type), 0) + 1
    return EventRates(
        module=operated.name,
        since=since,
        until=until,
        per_minute=[MinuteCount(m, t, c) for (m, t), c in sorted(counts.items())],
    )


_HANDLERS: Sequence[Any] = (list_dead_letters, replay_dead_letters, replay_dead_letter, event_rates)


def module_admin_router(module: Module) -> list[Any]:
    """The operations router for `module` (empty when it has no `/api/` prefix)."""
    path = admin_path(module)
    if path is None:
        return []

    def provide_operated(runtime: Runtime) -> ModuleRuntime:
        return runtime.module(module.name)

    return [
        Router(
            path=path,
            route_handlers=list(_HANDLERS),
            dependencies={"operated": Provide(provide_operated, sync_to_thread=False)},
            tags=["operations"],
            security=[{"BearerToken": []}],
        )
    ]
