"""The Tansu broker as a pytest fixture: one per test session, torn down at the end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.split import Child, start_broker

__all__ = ["Broker", "broker"]


class Broker:
    def __init__(self, child: Child, bootstrap: str) -> None:
        self.child = child
        self.bootstrap = bootstrap


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    logs: Path = tmp_path_factory.mktemp("broker")
    child, bootstrap = start_broker(logs)
    try:
        yield Broker(child, bootstrap)
    finally:
        child.stop(grace=5.0)
