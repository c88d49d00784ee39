"""The module contract: a module is a value, not a framework subclass.

Entry points pass a list of these to `create_app`; mounting one module or six is
the same call. Each field is something the kernel wires up for the module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import MetaData

from cloudtaskhub.events.contract import Event
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.tables import EventTables, event_tables

if TYPE_CHECKING:
    import click

    from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["BackgroundTask", "HandlerContext", "HealthCheck", "Module", "Subscription"]

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class HandlerContext:
    """What an event handler gets besides the event: the envelope and its module."""

    envelope: Envelope
    module: ModuleRuntime


@dataclass(frozen=True)
class Subscription(Generic[E]):
    """`handler` runs for every event matching `event`, in the dispatcher's transaction with
    the event's inbox row (in a savepoint of its own when the event came in a batch)."""

    event: type[E]
    handler: Callable[[E, HandlerContext], Awaitable[None]]

    @property
    def name(self) -> str:
        return getattr(self.handler, "__name__", repr(self.handler))


@dataclass(frozen=True)
class BackgroundTask:
    """A long-running coroutine started with the process and cancelled at shutdown."""

    name: str
    run: Callable[[ModuleRuntime], Awaitable[None]]


@dataclass(frozen=True)
class HealthCheck:
    """Readiness probe: `check` raises (any exception) when the module is not usable."""

    name: str
    check: Callable[[ModuleRuntime], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class Module:
    name: str
    description: str
    route_handlers: Sequence[Any] = ()
    #: URL prefixes this module serves; Traefik routing is generated from them.
    path_prefixes: tuple[str, ...] = ()
    metadata: MetaData = field(default_factory=MetaData)
    publishes: Sequence[type[Event]] = ()
    subscriptions: Sequence[Subscription[Any]] = ()
    background_tasks: Sequence[BackgroundTask] = ()
    health_checks: Sequence[HealthCheck] = ()
    #: A settings dataclass read with prefix `CTH_<NAME>_` (see `load_settings`).
    settings: type[Any] | None = None
    #: Extra `cloudtaskhub <name> ...` commands.
    cli: click.Group | None = None
    #: Folder of this module's Alembic revisions.
    migrations: Path | None = None

    def __post_init__(self) -> None:
        event_tables(self.metadata, self.name)
        for event in self.publishes:
            if event.event_source() not in {self.name, "*"}:
                raise ValueError(f"module {self.name} cannot publish {event.__event_type__}")

    @property
    def tables(self) -> EventTables:
        return event_tables(self.metadata, self.name)
