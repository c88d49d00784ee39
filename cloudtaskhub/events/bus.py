"""The bus interface both implementations (in-process, Kafka) fulfil.

Module code never sees the bus: services record events in the outbox, the relay
publishes them, and the bus hands them to each consuming module's dispatcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cloudtaskhub.events.envelope import Envelope

__all__ = ["BatchCutShort", "Bus", "Consumer", "Deferral", "Deferred", "topic_for"]


def topic_for(source: str) -> str:
    """One topic per publishing module."""
    return f"cloudtaskhub.{source}.events"


@dataclass(frozen=True)
class Deferral:
    """One consumer of the in-process bus had no room for an event (see `memory`)."""

    consumer: str
    #: Resolves once the consumer has room again.
    room: asyncio.Future[None]
    #: Called by the publisher's relay right before it sends its pending rows again
    #: from the oldest: from then on the consumer takes that publisher's events again.
    resume: Callable[[], None]


class Deferred(Exception):
    """The settlement future of an event some consumer deferred: it was not handed to
    them. The row stays pending; the relay sends it again once they have room."""

    def __init__(self, deferrals: list[Deferral]) -> None:
        super().__init__("deferred by " + ", ".join(d.consumer for d in deferrals))
        self.deferrals = deferrals


class BatchCutShort(Exception):
    """`handle_batch` stopped after the event in hand because the process is stopping
    (`Consumer.wind_down`). The events before it settled; the rest did not, and come
    again after the next start (the outbox row is still pending, the offset uncommitted).
    The bus must not retry the batch: it stops taking events."""


class Consumer(Protocol):
    """One consuming module: decides which types it takes and handles them.

    `handle` returns once the event is settled: handled (effect committed with its
    inbox row), skipped as a duplicate or unknown type, or dead-lettered. It raises
    only when it could not settle the event (e.g. its database is down while
    dead-lettering), in which case the bus must deliver it again later.
    """

    @property
    def module(self) -> str: ...

    @property
    def sources(self) -> frozenset[str]:
        """Modules whose events it consumes; `*` means every module."""
        ...

    def handles(self, type_: str) -> bool: ...

    async def handle(self, envelope: Envelope) -> None: ...

    async def handle_batch(
        self, envelopes: Sequence[Envelope], more: Callable[[], Sequence[Envelope]] | None = None
    ) -> None:
        """Settle `envelopes`, events of one lane or partition in order, as `handle` would
        each. Raises when some could not be settled: the bus then hands the same batch
        again (the inbox skips the events whose effect already committed).

        `more`, when the bus gives it, returns the events that arrived behind
        `envelopes` in the same lane since (in order, possibly none). The consumer may
        call it once, when its batch transaction can start: they join the batch, and
        the bus counts them part of it from then on (settled, or handed again, with
        the rest)."""
        ...

    def wind_down(self) -> None:
        """The process is stopping: finish the event in hand, then settle no more of the
        batch (`handle_batch` raises `BatchCutShort`). A batch of a hundred events can
        take seconds on a busy database; a stopping process must not wait for it."""
        ...


class Bus(Protocol):
    kind: str

    async def start(self, consumers: Sequence[Consumer], publishers: Sequence[str]) -> None:
        """Connect, create topics for `publishers`, start consuming for `consumers`."""
        ...

    async def publish(self, envelopes: Sequence[Envelope]) -> Sequence[asyncio.Future[None]]:
        """Hand `envelopes` (in order) to the bus.

        Returns one future per envelope that resolves when the bus is responsible for
        it: acknowledged by the broker (Kafka; already done on return), or settled by
        every local consumer (in-process; a future already failed with `Deferred`
        when a consumer had no room). Raises when nothing could be handed over.
        """
        ...

    async def dead_letter(self, consumer: str, envelope: Envelope, error: str, attempts: int) -> None:
        """Publish a dead letter where the bus keeps them (the DLQ topic on Kafka)."""
        ...

    async def check(self) -> None:
        """Raise when the bus is not usable (readiness)."""
        ...

    async def stop(self) -> None:
        """Finish in-flight handlers, then disconnect."""
        ...
