"""The event catalog: every event type, who publishes it and who consumes it.

Read from module descriptors only (`Module.publishes`, `Module.subscriptions`),
so the generated docs, the compatibility gate and the catalog test agree with
what the kernel actually wires. Kernel contracts (the heartbeat) are published
by every module's process, whatever the module declares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cloudtaskhub.events.contract import Event
from cloudtaskhub.events.heartbeat import Heartbeat
from cloudtaskhub.module import Module

__all__ = ["KERNEL_CONTRACTS", "CatalogEntry", "EventCatalog", "Listener"]

#: Contracts the kernel publishes on behalf of every mounted module.
KERNEL_CONTRACTS: tuple[type[Event], ...] = (Heartbeat,)


@dataclass(frozen=True)
class Listener:
    module: str
    handler: str


@dataclass
class CatalogEntry:
    contract: type[Event]
    publishers: list[str] = field(default_factory=list)
    listeners: list[Listener] = field(default_factory=list)
    #: Set on an older version still published beside its successor (dual publishing).
    successor: type[Event] | None = None
    #: Published by the kernel for every module, not declared by one.
    kernel: bool = False

    @property
    def type(self) -> str:
        return self.contract.__event_type__

    @property
    def short_type(self) -> str:
        """`project.task_assigned.v1` (`heartbeat.v1` for kernel contracts)."""
        source, name, version = (
            self.contract.event_source(),
            self.contract.event_name(),
            self.contract.event_version(),
        )
        return f"{name}.v{version}" if source == "*" else f"{source}.{name}.v{version}"

    @property
    def subscribers(self) -> list[str]:
        return sorted({listener.module for listener in self.listeners})


class EventCatalog:
    """Event types of `modules`, sorted by type."""

    def __init__(
        self, modules: Sequence[Module], kernel_contracts: Sequence[type[Event]] = KERNEL_CONTRACTS
    ) -> None:
        self.modules = list(modules)
        self._entries: dict[str, CatalogEntry] = {}
        names = [module.name for module in self.modules]
        for contract in kernel_contracts:
            entry = self._entry(contract)
            entry.kernel = True
            entry.publishers.extend(names)
        for module in self.modules:
            for contract in module.publishes:
                entry = self._entry(contract)
                entry.contract = contract  # the publisher's class is the contract's source of truth
                self._add_publisher(entry, module.name)
                newer = contract
                for older in contract.previous_versions():
                    entry = self._entry(older)
                    entry.successor = entry.successor or newer
                    self._add_publisher(entry, module.name)
                    newer = older
            for subscription in module.subscriptions:
                listener = Listener(module.name, subscription.name)
                self._entry(subscription.event).listeners.append(listener)

    def _entry(self, contract: type[Event]) -> CatalogEntry:
        entry = self._entries.get(contract.__event_type__)
        if entry is None:
            entry = self._entries[contract.__event_type__] = CatalogEntry(contract)
        return entry

    @staticmethod
    def _add_publisher(entry: CatalogEntry, module: str) -> None:
        if module not in entry.publishers:
            entry.publishers.append(module)

    @property
    def entries(self) -> list[CatalogEntry]:
        return [self._entries[key] for key in sorted(self._entries)]

    def entry(self, type_: str) -> CatalogEntry:
        return self._entries[type_]

    @property
    def contracts(self) -> list[type[Event]]:
        return [entry.contract for entry in self.entries]

    def published_by(self, module: str) -> list[CatalogEntry]:
        return [e for e in self.entries if module in e.publishers]

    def consumed_by(self, module: str) -> list[CatalogEntry]:
        return [e for e in self.entries if module in e.subscribers]

    def orphan_listeners(self) -> list[tuple[CatalogEntry, Listener]]:
        """Listeners of an event type no module publishes: a smell, and a failing test."""
        return [(e, listener) for e in self.entries if not e.publishers for listener in e.listeners]

    def edges(self) -> dict[tuple[str, str], list[CatalogEntry]]:
        """(publisher, subscriber) -> the event types flowing between them."""
        flows: dict[tuple[str, str], list[CatalogEntry]] = {}
        for entry in self.entries:
            for publisher in entry.publishers:
                for subscriber in entry.subscribers:
                    flows.setdefault((publisher, subscriber), []).append(entry)
        return dict(sorted(flows.items()))
