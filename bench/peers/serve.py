"""Serve a peer app with exactly the server of `cloudtaskhub serve` (`cloudtaskhub.serving`)."""

from __future__ import annotations

import argparse

from cloudtaskhub.serving import serve

APPS = {
    "bare_litestar": "bench.peers.bare_litestar:create_app",
    "fastapi_toy": "bench.peers.fastapi_toy:create_app",
    "durable_floor": "bench.peers.durable_floor:create_app",
    "durable_floor_pg": "bench.peers.durable_floor_pg:create_app",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    # The server of `cloudtaskhub serve`, as the bench sets it: no CTH_TRUSTED_PROXIES.
    serve(APPS[arguments.app], host="127.0.0.1", port=arguments.port)


if __name__ == "__main__":
    main()
