"""Configuration mistakes fail at start, naming the variable; SQLite's page cache is bounded."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cloudtaskhub.db import Databases
from cloudtaskhub.db.engines import READ_ONLY
from cloudtaskhub.settings import SettingsError, load_settings
from cloudtaskhub.testing import ModuleHarness
from entrypoints.cli import main


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CTH_SQLITE_CACHE_KIB", "0", "a number greater than 0"),
        ("CTH_DB_POOL_SIZE", "-1", "a number greater than 0"),
        ("CTH_OUTBOX_POLL_INTERVAL_SECONDS", "0", "a number greater than 0"),
        ("CTH_BUS_LANES", "many", "an integer"),
        ("CTH_BUS", "rabbit", "one of memory, kafka"),
        ("CTH_METRICS_PORT", "70000", "a TCP port"),
        ("CTH_METRICS_PORT", "-1", "a TCP port"),
        ("CTH_DB_CONNECTIONS_AT_START", "21", "a number of connections from 0 to 20"),
        ("CTH_DB_CONNECTIONS_AT_START", "-1", "a number of connections from 0 to 20"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError, match=f"{variable}: expected {expected}"):
        load_settings(environ={variable: value})


def test_serve_refuses_a_bad_value_before_it_listens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTH_SQLITE_CACHE_KIB", "-512")

    result = CliRunner().invoke(main, ["serve", "--port", "1"])

    assert result.exit_code == 1
    assert "bad configuration: CTH_SQLITE_CACHE_KIB" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kib", [512, 64])
async def test_every_sqlite_connection_gets_the_configured_page_cache(tmp_path: Path, kib: int) -> None:
    databases = Databases(pool_size=2, sqlite_cache_kib=kib)
    engine = databases.engine(f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}")
    try:
        # Read-only: two connections at once, neither waiting for the write lock.
        reading = engine.execution_options(**{READ_ONLY: True})
        async with reading.connect() as first, reading.connect() as second:
            sizes = [await c.scalar(text("PRAGMA cache_size")) for c in (first, second)]
    finally:
        await databases.dispose()

    assert sizes == [-kib, -kib]  # negative: KiB rather than pages


async def test_a_taken_metrics_port_stops_the_start_naming_the_variable(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        harness = ModuleHarness(
            [],
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'db'}",
            data_dir=str(tmp_path),
            metrics_port=taken.getsockname()[1],
        )
        with pytest.raises(OSError, match="CTH_METRICS_PORT"):
            await harness.runtime.start()
        await harness.runtime.stop()
