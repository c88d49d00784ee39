"""The shapes the e2e scenario runs against, each started for real as processes.

- all-in-one on the in-process bus (one `cloudtaskhub serve --modules all`);
- all-in-one on Kafka (the same, plus a Tansu broker);
- split: a broker, one process per module, Traefik in front (`SplitStack`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.split import SplitStack, free_port, kafka_environment, start_broker, start_server, wait_ready

#: Heartbeats every second, so the status page settles quickly.
FAST = {
    "CTH_HEARTBEAT_INTERVAL_SECONDS": "1",
    "CTH_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
    "CTH_LOG_FORMAT": "text",
}


def _all_in_one(run_dir: Path, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    server = start_server(
        "all",
        port,
        {
            "CTH_DATA_DIR": str(run_dir),
            "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{run_dir / 'cloudtaskhub.db'}",
            **FAST,
            **env,
        },
        run_dir / "logs",
        name="all-in-one",
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(server, url, timeout=60)
        yield url
    finally:
        server.stop()


@pytest.fixture
def all_in_one_memory(tmp_path: Path) -> Iterator[str]:
    yield from _all_in_one(tmp_path, {"CTH_BUS": "memory"})


@pytest.fixture
def all_in_one_kafka(tmp_path: Path) -> Iterator[str]:
    broker, bootstrap = start_broker(tmp_path / "logs")
    try:
        yield from _all_in_one(tmp_path, kafka_environment(bootstrap))
    finally:
        broker.stop()


@pytest.fixture
def split_stack(tmp_path: Path) -> Iterator[SplitStack]:
    with SplitStack(tmp_path, env=FAST) as stack:
        yield stack
