"""In-process signals of one notification process: which SSE streams to wake and
when the webhook deliverer has new work.

A signal only says "look again": streams and the deliverer read the database, the
source of truth, so a missed or doubled signal loses or repeats nothing, and
notifications committed by another replica are found by a slower poll.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID
from weakref import WeakKeyDictionary

from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["Signals", "provide_signals"]


class Signals:
    def __init__(self) -> None:
        self._streams: defaultdict[UUID, set[asyncio.Event]] = defaultdict(set)
        self.deliveries = asyncio.Event()
        self.closed = False

    @contextmanager
    def listen(self, user_id: UUID) -> Iterator[asyncio.Event]:
        """An event set whenever `user_id` may have a new notification."""
        event = asyncio.Event()
        self._streams[user_id].add(event)
        try:
            yield event
        finally:
            self._streams[user_id].discard(event)
            if not self._streams[user_id]:
                del self._streams[user_id]

    def notify(self, user_id: UUID) -> None:
        for event in self._streams.get(user_id, ()):
            event.set()

    def close(self) -> None:
        """Process shutdown: end every open stream."""
        self.closed = True
        for events in self._streams.values():
            for event in events:
                event.set()


# One Signals per running module (not per process import): tests run many runtimes.
_signals: WeakKeyDictionary[ModuleRuntime, Signals] = WeakKeyDictionary()


def provide_signals(module: ModuleRuntime) -> Signals:
    if module not in _signals:
        _signals[module] = Signals()
        # End open streams as soon as the process is told to stop: the server waits
        # for open connections before shutting the app down.
        module.runtime.on_stop_requested(_signals[module].close)
    return _signals[module]
