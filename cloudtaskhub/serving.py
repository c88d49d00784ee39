"""uvicorn, configured once for every served process: `cloudtaskhub serve` and the bench's peers.

**New connections in bursts.** libuv (uvloop's event loop) accepts one connection per
listening socket per loop iteration since 1.45 (libuv PR #3696, "don't accept()
connections in a loop"). Under load an iteration is long, because it runs every request
that arrived in it, so a burst of new connections queues in the kernel and each waits one
more iteration than the one before: 50 connections opened at once against the task list
(0.5 ms a request) got their first answers 3 ms … 1.1 s after they were sent, one every
30–60 ms (a packet capture of wrk's start). That staircase was the list's p99 at 50
connections (400–800 ms, with p90 at 45 ms and every request under 10 ms inside the app),
and the same wait hits any burst: clients reconnecting after a restart, an edge proxy
opening connections as its load grows. asyncio's own loop accepts up to the backlog per
wake-up and showed none of it, but is slower per request.

So the one listening socket is handed to uvicorn `ACCEPTS_PER_ITERATION` times as
duplicated descriptors (`dup`). They share the kernel's one accept queue, and libuv
watches each descriptor on its own, so one iteration accepts up to that many connections.
A lone new connection wakes every descriptor; all but one find the queue empty
(`EAGAIN`), a few microseconds each, paid per connection, not per request, and nothing
while no connection is waiting. Unlike `SO_REUSEPORT` sockets, duplicates let no other
process bind the port and split no queue by hash.

More than one worker process is uvicorn's own multiprocess mode, unchanged.
"""

from __future__ import annotations

import socket

import uvicorn

from cloudtaskhub.response_writes import OneWriteHttpProtocol

__all__ = ["ACCEPTS_PER_ITERATION", "listeners", "serve"]

#: Connections one loop iteration may accept. 16 absorbed wrk's 50 at once in four
#: iterations (list p99 at 50 connections ~330-400 ms -> 56-68 ms on a 0.5 ms app) and cost
#: nothing measurable on a connection per request (wrk `Connection: close`, 16 connections).
ACCEPTS_PER_ITERATION = 16


def listeners(listener: socket.socket, count: int = ACCEPTS_PER_ITERATION) -> list[socket.socket]:
    """`listener` and `count - 1` duplicates of it: one accept queue, `count` descriptors."""
    if count < 1:
        raise ValueError("count must be at least 1")
    return [listener, *(listener.dup() for _ in range(count - 1))]


def serve(
    app: str,
    *,
    host: str,
    port: int,
    workers: int = 1,
    trusted_proxies: tuple[str, ...] = (),
) -> None:
    """Serve the ASGI factory `app` ("module:function") until told to stop."""
    options: dict[str, object] = {
        "factory": True,
        "host": host,
        "port": port,
        "workers": workers,
        # X-Forwarded-For counts only from the configured proxies: login throttling and
        # rate limits key on the client address, which a client must not choose.
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": list(trusted_proxies) or None,
        # uvicorn[standard]: libuv's event loop and the httptools parser, not asyncio's
        # default loop and pure-Python h11 (each costs a large share of a fast request);
        # the parser's protocol sends each response's head with its body (one write).
        "loop": "uvloop",
        "http": OneWriteHttpProtocol,
        "timeout_graceful_shutdown": 20,
        "log_level": "warning",
    }
    if workers > 1:
        uvicorn.run(app, **options)  # type: ignore[arg-type]
        return
    config = uvicorn.Config(app, **options)  # type: ignore[arg-type]
    # `bind_socket` is how uvicorn itself binds for its workers (host, port, IPv6, reuse).
    uvicorn.Server(config).run(sockets=listeners(config.bind_socket()))
