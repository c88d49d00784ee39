"""In-process signals of one notification process: which SSE streams to wake (or end)
and when the webhook deliverer has new work.

A signal only says "look again": streams and the deliverer read the database, the
source of truth, so a missed or doubled signal loses or repeats nothing, and
notifications committed (or sessions ended) by another replica are found by a slower poll.

The open streams are counted here too, per user: a process holds at most
`CTH_NOTIFICATION_SSE_MAX_STREAMS_PER_USER` of one user's streams (each holds a
connection and polls the database). With several notification processes the cap is
per process.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from uuid import UUID
from weakref import WeakKeyDictionary

from cloudtaskhub.errors import TooManyRequests
from cloudtaskhub.runtime import ModuleRuntime

__all__ = ["Signals", "Stream", "TooManyStreams", "provide_signals"]


class TooManyStreams(TooManyRequests):
    template = "{limit} notification streams are already open for this user; close one first"
    extensions = ("limit",)


class Stream:
    """One open stream: `wake` is set whenever it may have something to send; `ended`
    says its login session ended (it must close)."""

    def __init__(self, user_id: UUID, session_id: UUID | None) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.wake = asyncio.Event()
        self.ended = False


class Signals:
    def __init__(self) -> None:
        self._streams: defaultdict[UUID, set[Stream]] = defaultdict(set)
        self.deliveries = asyncio.Event()
        self.closed = False

    def open(self, user_id: UUID, session_id: UUID | None, limit: int) -> Stream:
        """Count a new stream of `user_id`; raises TooManyStreams when `limit` are open.

        Synchronous on purpose: no other request can slip in between the count and the add.
        """
        streams = self._streams[user_id]
        if len(streams) >= limit:
            if not streams:
                del self._streams[user_id]
            # A slot frees when a stream closes: a client may try again soon.
            raise TooManyStreams(limit=limit, retry_after=5)
        stream = Stream(user_id, session_id)
        streams.add(stream)
        return stream

    def close(self, stream: Stream) -> None:
        """The stream ended: its slot is free again. Idempotent."""
        streams = self._streams.get(stream.user_id)
        if streams is None:
            return
        streams.discard(stream)
        if not streams:
            del self._streams[stream.user_id]

    def open_streams(self, user_id: UUID) -> int:
        return len(self._streams.get(user_id, ()))

    def notify(self, user_id: UUID) -> None:
        for stream in self._streams.get(user_id, ()):
            stream.wake.set()

    def end_session(self, user_id: UUID, session_id: UUID) -> None:
        """Auth ended the login session: its streams in this process end now."""
        for stream in self._streams.get(user_id, ()):
            if stream.session_id == session_id:
                stream.ended = True
                stream.wake.set()

    def shut_down(self) -> None:
        """Process shutdown: end every open stream."""
        self.closed = True
        for streams in self._streams.values():
            for stream in streams:
                stream.wake.set()


# One Signals per running module (not per process import): tests run many runtimes.
_signals: WeakKeyDictionary[ModuleRuntime, Signals] = WeakKeyDictionary()


def provide_signals(module: ModuleRuntime) -> Signals:
    if module not in _signals:
        _signals[module] = Signals()
        # End open streams as soon as the process is told to stop: the server waits
        # for open connections before shutting the app down.
        module.runtime.on_stop_requested(_signals[module].shut_down)
    return _signals[module]
