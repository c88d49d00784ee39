"""Deployments the fault tests break, each started for real: the split shape (six
processes, Tansu, Traefik), and an all-in-one process on SQLite (in-process bus or
Kafka) or on the local PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from entrypoints.split import Child, SplitStack, kafka_environment, start_broker
from tests.reliability.support import FAST, AllInOne

#: The PostgreSQL database the database-fault tests own (its schema is dropped per test).
RELIABILITY_DATABASE_URL = os.environ.get(
    "CTH_RELIABILITY_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/reliability"
)


@pytest.fixture
def split_stack(tmp_path: Path) -> Iterator[SplitStack]:
    with SplitStack(tmp_path, env=FAST) as stack:
        yield stack


def psql(sql: str, database: str | None = None) -> str:
    url = make_url(RELIABILITY_DATABASE_URL)
    command = [
        "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
        "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres",
        "-d", database or url.database or "postgres", "-c", sql,
    ]  # fmt: skip
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30).stdout


@pytest.fixture
def postgres_database() -> str:
    """A clean reliability database (created on first use); skips without a server."""
    name = make_url(RELIABILITY_DATABASE_URL).database
    try:
        exists = psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{name}'",  # noqa: S608 - our own configuration
            database="postgres",
        ).strip()
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"no PostgreSQL for the database fault tests: {error}")
    if not exists:
        psql(f'CREATE DATABASE "{name}"', database="postgres")
    psql("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;")
    return RELIABILITY_DATABASE_URL


@pytest.fixture
def all_in_one(tmp_path: Path) -> Iterator[AllInOne]:
    """The `make run` shape: one process, SQLite, the in-process bus."""
    app = AllInOne(tmp_path, {"CTH_BUS": "memory"})
    try:
        app.start()
        yield app
    finally:
        app.stop()


@pytest.fixture
def all_in_one_on_kafka(tmp_path: Path) -> Iterator[tuple[AllInOne, Child]]:
    """One process on SQLite and Kafka, and its Tansu broker (resumed at the end if stalled)."""
    broker, bootstrap = start_broker(tmp_path / "logs")
    app = AllInOne(tmp_path, kafka_environment(bootstrap))
    try:
        app.start()
        yield app, broker
    finally:
        broker.signal(signal.SIGCONT)
        app.stop()
        broker.stop()
