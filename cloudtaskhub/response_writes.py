"""A response's head and body leave the process in one write.

uvicorn's httptools protocol writes a response's status line and headers when the app
sends `http.response.start`, then the body when it sends `http.response.body`: two
`send()` system calls, and two TCP segments (Nagle is off), for a response the app had
complete at once. A process killed between the two (SIGKILL, the OOM killer, a
container's stop timeout running out) leaves its client a status line and headers with
no body: a truncated answer, where one write gives the client the whole response or
none (what was written before the process died is still delivered by the kernel). The
reliability suite's SIGKILL test met it once in about twenty runs ("peer closed
connection without sending complete message body"). It is not kept for speed: an
interleaved A/B measured no CPU change either way (bench/results/one-write-2026-12-01.json).

`OneWriteHttpProtocol` is that protocol with one change: each request's cycle writes
through `_HeadWithBody`, which holds the head back until the body's first write and
hands both to the transport together (`writelines`: one vectored `send` on uvloop).
A head whose body does not follow in the same step of the loop — a stream still
computing its first chunk, a response to HEAD — leaves on the loop's next turn, so it
is held at most that long, never lost or reordered. Everything else (parsing,
keep-alive, pipelining, flow control, 100-continue, errors) is uvicorn's own.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

__all__ = ["OneWriteHttpProtocol"]


class _HeadWithBody:
    """One response cycle's view of the connection's transport."""

    __slots__ = ("_cycle", "_flush", "_head", "_headed", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._headed = False
        self._flush: asyncio.Handle | None = None

    def write(self, data: bytes) -> None:
        if not self._headed and self._cycle.response_started:
            # The cycle's first write once its response started is that response's head
            # (a `100 Continue` goes out before the response starts, and passes through).
            self._headed = True
            self._head = data
            self._flush = asyncio.get_running_loop().call_soon(self._send_head)
            return
        if self._head is not None:
            head, self._head = self._head, None
            self._cancel_flush()
            self._transport.writelines((head, data))
            return
        self._transport.write(data)

    def close(self) -> None:
        self._send_head()
        self._transport.close()

    def _send_head(self) -> None:
        self._cancel_flush()
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def _cancel_flush(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class OneWriteHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing each response's head with its body."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # a new request (an upgrade makes none)
            self.cycle.transport = cast(asyncio.Transport, _HeadWithBody(self.transport, self.cycle))
