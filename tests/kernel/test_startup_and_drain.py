"""A process starts before its database is reachable, and stops without dropping requests.

On a first Swarm deploy the app and PostgreSQL start together: the app waits for the
database the way it waits for the broker. On a rolling update Traefik learns that a task
is going only at its next poll of Swarm: with CTH_SHUTDOWN_DRAIN_SECONDS the process keeps
serving after SIGTERM (readiness says 503) until the edge has stopped routing to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import make_url

from cloudtaskhub import testing
from cloudtaskhub.runtime import Runtime
from entrypoints.split import free_port, start_server, wait_ready, wait_until
from modules.auth import module as auth
from tests.support.postgres import POSTGRES_URL, requires_postgres

#: uvicorn re-raises the signal it caught once it has shut down cleanly.
CLEAN_EXIT = (0, -signal.SIGTERM)


@contextlib.asynccontextmanager
async def tcp_forwarder(listen_port: int, host: str, port: int) -> AsyncIterator[None]:
    """127.0.0.1:listen_port -> host:port, for as long as the context lasts."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    try:
        yield
    finally:
        server.close()


@pytest.mark.integration
async def test_the_runtime_waits_for_a_database_that_comes_up_after_it(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    requires_postgres()
    real = make_url(POSTGRES_URL)
    port = free_port()
    late = real.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    runtime = Runtime([auth], testing.test_settings(late, str(tmp_path)), environ={})
    caplog.set_level(logging.WARNING, logger="cloudtaskhub.runtime")

    async def database_comes_up() -> None:
        await asyncio.sleep(1.5)
        async with tcp_forwarder(port, real.host or "127.0.0.1", real.port or 5432):
            await asyncio.sleep(30)

    forwarder = asyncio.create_task(database_comes_up())
    try:
        await runtime.prepare()
        await runtime.module("auth").check_database()
    finally:
        await runtime.databases.dispose()
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await forwarder

    assert any("not reachable yet" in record.getMessage() for record in caplog.records)


@pytest.mark.integration
async def test_a_database_that_refuses_the_login_fails_the_start_at_once(tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    requires_postgres()
    missing = (
        make_url(POSTGRES_URL).set(database="cth_no_such_database").render_as_string(hide_password=False)
    )
    runtime = Runtime([auth], testing.test_settings(missing, str(tmp_path)), environ={})
    caplog.set_level(logging.WARNING, logger="cloudtaskhub.runtime")

    with pytest.raises(Exception, match="cth_no_such_database"):
        await runtime.prepare()
    await runtime.databases.dispose()

    assert not any("not reachable yet" in record.getMessage() for record in caplog.records)


def _serve(tmp_path, drain: str):  # type: ignore[no-untyped-def]
    port = free_port()
    env = {
        **os.environ,
        "CTH_ENV": "test",
        "CTH_DATA_DIR": str(tmp_path),
        "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'drain.db'}",
        "CTH_DB_BOOTSTRAP": "create",
        "CTH_LOG_FORMAT": "text",
        "CTH_SHUTDOWN_DRAIN_SECONDS": drain,
    }
    child = start_server("auth", port, env, tmp_path / "logs")
    base = f"http://127.0.0.1:{port}"
    wait_ready(child, base)
    return child, base


def test_after_sigterm_a_draining_process_serves_on_and_says_it_is_not_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child, base = _serve(tmp_path, "4")
    try:
        child.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        wait_until(
            lambda: httpx.get(f"{base}/health/ready", timeout=2).status_code == 503,
            "readiness 503",
            [child],
            3,
        )
        ready = httpx.get(f"{base}/health/ready", timeout=2)
        served = httpx.post(
            f"{base}/api/v1/auth/register",
            json={"email": "late@example.com", "password": "correct horse battery", "display_name": "Late"},
            timeout=5,
        )
        assert child.alive()
        assert ready.json()["checks"]["runtime"] == "draining"
        assert served.status_code == 201, served.text

        child.process.wait(timeout=30)
        assert time.monotonic() - signalled >= 4
        assert child.process.returncode in CLEAN_EXIT, child.log_tail()
    finally:
        child.stop()


def test_without_a_drain_period_sigterm_stops_the_process_at_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child, base = _serve(tmp_path, "0")
    try:
        child.process.send_signal(signal.SIGTERM)
        child.process.wait(timeout=30)
        assert child.process.returncode in CLEAN_EXIT, child.log_tail()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{base}/health/live", timeout=2)
    finally:
        child.stop()


def test_a_second_sigterm_ends_the_drain(tmp_path) -> None:  # type: ignore[no-untyped-def]
    child, base = _serve(tmp_path, "60")
    try:
        child.process.send_signal(signal.SIGTERM)
        wait_until(
            lambda: httpx.get(f"{base}/health/ready", timeout=2).status_code == 503,
            "readiness 503",
            [child],
            3,
        )
        child.process.send_signal(signal.SIGTERM)
        child.process.wait(timeout=30)
        assert child.process.returncode in CLEAN_EXIT, child.log_tail()
    finally:
        child.stop()


@pytest.mark.integration
async def test_replicas_that_start_together_migrate_one_after_the_other() -> None:
    requires_postgres()
    from sqlalchemy.ext.asyncio import create_async_engine

    from cloudtaskhub.db.migrations import upgrade
    from tests.support.postgres import reset_postgres

    await reset_postgres(POSTGRES_URL)
    engines = [create_async_engine(POSTGRES_URL) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(auth, engine) for engine in engines))
        async with engines[0].connect() as connection:
            version = await connection.exec_driver_sql("SELECT count(*) FROM auth_alembic_version")
            assert version.scalar() == 1
    finally:
        for engine in engines:
            await engine.dispose()
