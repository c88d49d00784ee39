"""Each response leaves in one write: its head with its body (`cloudtaskhub.response_writes`).

The protocol is driven as uvicorn drives it, with a transport that records every call
the protocol makes on it: what a client would receive, and in how many sends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from cloudtaskhub.response_writes import OneWriteHttpProtocol


class _Transport(asyncio.Transport):
    """Records the sends a socket would make: one per `write`, one per `writelines`."""

    def __init__(self) -> None:
        super().__init__()
        self.sends: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sends.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.sends.append(b"".join(bytes(d) for d in list_of_data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b'{"status":"ok"}'
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"15")]})
    if scope["path"] == "/stream":
        await asyncio.sleep(0.05)  # a stream computing its first chunk
    await send({"type": "http.response.body", "body": body})


def _connection() -> tuple[OneWriteHttpProtocol, _Transport]:
    config = Config(app=_app, lifespan="off", log_level="warning")
    config.load()
    protocol = OneWriteHttpProtocol(config=config, server_state=ServerState(), app_state={})
    transport = _Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def _answered(transport: _Transport, count: int) -> None:
    async with asyncio.timeout(5):
        while sum(send.count(b"HTTP/1.1 ") for send in transport.sends) < count:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # anything still to come for those responses


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_response_made_at_once_leaves_in_one_send(method: str) -> None:
    protocol, transport = _connection()

    protocol.data_received(f"{method} /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode())
    await _answered(transport, 1)

    assert len(transport.sends) == 1
    head, body = transport.sends[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body == b'{"status":"ok"}'


async def test_pipelined_requests_get_one_send_each_in_order() -> None:
    protocol, transport = _connection()

    protocol.data_received(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    await _answered(transport, 2)

    assert len(transport.sends) == 2
    assert all(send.startswith(b"HTTP/1.1 200 OK") for send in transport.sends)
    assert all(send.endswith(b"}") for send in transport.sends)


async def test_a_head_whose_body_is_not_ready_leaves_on_the_loops_next_turn() -> None:
    protocol, transport = _connection()

    protocol.data_received(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.02)  # the body is 50 ms away

    assert len(transport.sends) == 1
    assert transport.sends[0].startswith(b"HTTP/1.1 200 OK")
    assert transport.sends[0].endswith(b"\r\n\r\n")  # the head alone
    await _answered(transport, 1)
    async with asyncio.timeout(5):
        while len(transport.sends) < 2:
            await asyncio.sleep(0.005)
    assert transport.sends[1] == b'{"status":"ok"}'


async def test_a_response_to_head_sends_its_head_alone() -> None:
    protocol, transport = _connection()

    protocol.data_received(b"HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await _answered(transport, 1)

    assert len(transport.sends) == 1
    assert transport.sends[0].startswith(b"HTTP/1.1 200 OK")
    assert transport.sends[0].endswith(b"\r\n\r\n")  # the head alone


async def test_a_connection_that_closes_after_its_response_sends_the_whole_response_first() -> None:
    protocol, transport = _connection()

    protocol.data_received(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(5):
        while not transport.closed:
            await asyncio.sleep(0.001)

    assert b"".join(transport.sends).endswith(b'{"status":"ok"}')
    assert len(transport.sends) == 1
