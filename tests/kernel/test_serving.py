"""The served process accepts a burst of new connections in a few loop iterations
(`cloudtaskhub.serving`), not one connection per iteration as libuv alone does."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudtaskhub.serving import ACCEPTS_PER_ITERATION, listeners

#: An ASGI app that counts the event loop's iterations (a callback that schedules itself
#: once per iteration) and answers each request with the count at which it arrived.
#: `/hold` sends its headers (they leave on the loop's next turn when no body follows at
#: once: `cloudtaskhub.response_writes`), then blocks the loop for a while: connections made
#: meanwhile wait in the kernel's accept queue, all at once.
_APP = """
import asyncio, time

class App:
    def __init__(self):
        self.iterations = 0

    def _tick(self):
        self.iterations += 1
        asyncio.get_running_loop().call_soon(self._tick)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    asyncio.get_running_loop().call_soon(self._tick)
                    await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        arrived = str(self.iterations).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(arrived)).encode())]})
        if scope["path"] == "/hold":
            await asyncio.sleep(0)  # the head goes out on the loop's next turn
            time.sleep(0.5)
        await send({"type": "http.response.body", "body": arrived})

def create():
    return App()
"""

BURST = 40


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "burst_app.py").write_text(_APP)
    port = _free_port()
    program = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from cloudtaskhub.serving import serve\n"
        f"serve('burst_app:create', host='127.0.0.1', port={port})\n"
    )
    server = subprocess.Popen([sys.executable, "-c", program], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start listening"
                time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _request(path: str, port: int) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def _answer(connection: socket.socket) -> int:
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(4096)
    head, body = received.split(b"\r\n\r\n", 1)
    fields = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(fields[b"content-length"])
    while len(body) < length:
        body += connection.recv(4096)
    return int(body)


def test_a_burst_of_new_connections_is_accepted_in_a_few_loop_iterations(served: int) -> None:
    holder = socket.create_connection(("127.0.0.1", served), timeout=10)
    holder.sendall(_request("/hold", served))
    # The headers are out: the loop is now blocked in `/hold` for half a second.
    assert holder.recv(17).startswith(b"HTTP/1.1 200")
    burst = [socket.create_connection(("127.0.0.1", served), timeout=10) for _ in range(BURST)]
    for connection in burst:
        connection.sendall(_request("/", served))

    arrivals = [_answer(connection) for connection in burst]

    # One accept per iteration (libuv's own) spreads them over at least BURST iterations.
    spread = max(arrivals) - min(arrivals)
    accepting = -(-BURST // ACCEPTS_PER_ITERATION)  # iterations that accept them all
    assert spread <= accepting + 3, f"first requests arrived over {spread} loop iterations"
    assert spread < BURST // 4
    for connection in (holder, *burst):
        connection.close()


def test_every_duplicate_shares_the_one_listening_socket() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        shared = listeners(listener, 4)

        assert len({s.fileno() for s in shared}) == 4
        assert {s.getsockname() for s in shared} == {listener.getsockname()}
        for duplicate in shared[1:]:
            duplicate.close()
    with pytest.raises(ValueError, match="at least 1"):
        listeners(socket.socket(), 0)
