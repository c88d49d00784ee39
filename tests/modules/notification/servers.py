"""Real servers on loopback for tests: the app under test (to stream SSE), webhook
receivers (HTTP or HTTPS), a tripwire that counts connections, and a fake DNS."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn


@asynccontextmanager
async def serving(
    app: Any, host: str = "127.0.0.1", port: int = 0, ssl_certfile: str | None = None
) -> AsyncIterator[str]:
    """Serve an ASGI app on `host` (a free port by default) in this event loop; yields its base URL.

    The lifespan is off: the harness has already started the app's runtime.
    `ssl_certfile` (certificate chain and key in one PEM) serves HTTPS.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        timeout_graceful_shutdown=1,
        ssl_certfile=ssl_certfile,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 5
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if ssl_certfile else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]
    at: float


@dataclass
class Receiver:
    """A webhook receiver answering the statuses in `script` in turn (then 200).

    A 3xx answer points `Location` at `redirect_to`.
    """

    script: list[int] = field(default_factory=list)
    redirect_to: str = "http://127.0.0.1:9/"
    hold: asyncio.Event | None = None
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(body, headers, time.monotonic()))
        async with self.arrived:
            self.arrived.notify_all()
        if self.hold is not None:
            await self.hold.wait()
        status = self.script.pop(0) if self.script else 200
        headers = [(b"content-length", b"2")]
        if 300 <= status < 400:
            headers.append((b"location", self.redirect_to.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.requests) >= count), timeout)
        return self.requests


@dataclass
class Tripwire:
    """A TCP listener that counts the connections it gets and never answers them."""

    connections: int = 0
    _held: list[asyncio.StreamWriter] = field(default_factory=list)

    async def _accept(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._held.append(writer)


@asynccontextmanager
async def tripwire(host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[tuple[Tripwire, int]]:
    """A `Tripwire` listening on `host`; yields it with its port."""
    wire = Tripwire()
    server = await asyncio.start_server(wire._accept, host, port)
    try:
        yield wire, server.sockets[0].getsockname()[1]
    finally:
        for writer in wire._held:
            writer.close()
        server.close()
        await server.wait_closed()


class FakeDNS:
    """The process's resolver (`socket.getaddrinfo`, which asyncio and anyio call) with
    made-up names: each lookup of a name takes its next answer; the last one repeats.

    Every other name resolves as usual, IP literals included.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: dict[str, int] = {}
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name in self.answers:
                answers = self.answers[name]
                count = self.lookups[name] = self.lookups.get(name, 0) + 1
                host = answers[min(count, len(answers)) - 1]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(self, name: str, *answers: str) -> None:
        self.answers[name] = list(answers)
