"""Serve a peer app with exactly the uvicorn settings of `cloudtaskhub serve`."""

from __future__ import annotations

import argparse

import uvicorn

APPS = {
    "bare_litestar": "bench.peers.bare_litestar:create_app",
    "fastapi_toy": "bench.peers.fastapi_toy:create_app",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    # Keep in step with entrypoints/cli.py `serve`.
    uvicorn.run(
        APPS[arguments.app],
        factory=True,
        host="127.0.0.1",
        port=arguments.port,
        workers=1,
        # As `serve` with no CTH_TRUSTED_PROXIES (the bench sets none).
        proxy_headers=False,
        # uvicorn[standard]: libuv's event loop and the httptools parser, not asyncio's
        # default loop and pure-Python h11 (each costs a large share of a fast request).
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=20,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
