"""The shapes the e2e scenario runs against, each started for real as processes.

- all-in-one on the in-process bus (one `cloudtaskhub serve --modules all`);
- all-in-one on Kafka (the same, plus a Tansu broker);
- split: a broker, one process per module, Traefik in front (`SplitStack`).

Clients reach every shape through Traefik, as in production (the single-node shape
routes every module's prefixes to the one process).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from entrypoints.split import (
    SplitStack,
    free_port,
    kafka_environment,
    start_broker,
    start_server,
    start_traefik,
    wait_ready,
    wait_until,
)
from tests.e2e.operator import all_in_one_directory, all_in_one_environment

#: Heartbeats every second, so the status page settles quickly.
FAST = {
    "CTH_HEARTBEAT_INTERVAL_SECONDS": "1",
    "CTH_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
    "CTH_LOG_FORMAT": "text",
}


def _live(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/live", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _all_in_one(run_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """An all-in-one process behind Traefik; yields Traefik's URL."""
    port = free_port()
    server = start_server(
        "all",
        port,
        {**all_in_one_environment(run_dir), **FAST, **env},
        run_dir / "logs",
        name="all-in-one",
    )
    traefik = None
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(server, url, timeout=60)
        edge_port = free_port()
        traefik = start_traefik(run_dir / "logs", edge_port, {"*": url})
        edge = f"http://127.0.0.1:{edge_port}"
        wait_until(lambda: _live(edge), "Traefik", [traefik], 30.0)
        yield edge
    finally:
        if traefik is not None:
            traefik.stop()
        server.stop()


@pytest.fixture
def all_in_one_memory(tmp_path: Path) -> Iterator[str]:
    yield from _all_in_one(all_in_one_directory(tmp_path), {"CTH_BUS": "memory"})


@pytest.fixture
def all_in_one_kafka(tmp_path: Path) -> Iterator[str]:
    broker, bootstrap = start_broker(tmp_path / "logs")
    try:
        yield from _all_in_one(all_in_one_directory(tmp_path), kafka_environment(bootstrap))
    finally:
        broker.stop()


@pytest.fixture
def split_stack(tmp_path: Path) -> Iterator[SplitStack]:
    with SplitStack(tmp_path, env=FAST) as stack:
        yield stack
