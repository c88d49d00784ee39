"""The admin role comes only from an operator act on the server, never from registering.

Review finding: with `CTH_ADMIN_EMAILS` set, anyone who registered that address first
(registration is open, emails are not verified) got `roles: ["admin"]`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloudtaskhub.settings import SettingsError, load_settings
from cloudtaskhub.testing import ModuleHarness
from modules.auth import module as auth

ADA = {"email": "Ada@Example.com", "password": "correct horse battery", "display_name": "Ada"}
CLI = str(Path(sys.executable).parent / "cloudtaskhub")


async def roles_after_login(harness: ModuleHarness) -> frozenset[str]:
    tokens = await harness.post(
        "/api/v1/auth/login", json={"email": ADA["email"], "password": ADA["password"]}
    )
    assert tokens.status_code == 200, tokens.text
    return harness.runtime.verifier.verify(tokens.json()["access_token"]).roles


def cli(database_url: str, data_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CTH_ENV": "test",
        "CTH_DATABASE_URL": database_url,
        "CTH_DATA_DIR": str(data_dir),
        "CTH_DB_BOOTSTRAP": "create",
        "CTH_LOG_LEVEL": "WARNING",
    }
    return subprocess.run([CLI, *arguments], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_an_admin_email_setting_stops_the_process_instead_of_granting_by_address() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"CTH_ADMIN_EMAILS": "admin@example.com"})

    assert refused.value.variable == "CTH_ADMIN_EMAILS"


def test_admin_user_ids_must_be_user_ids() -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(environ={"CTH_ADMIN_USER_IDS": "admin@example.com"})

    assert refused.value.variable == "CTH_ADMIN_USER_IDS"


async def test_registering_any_address_grants_no_role(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([auth], database_url=database_url, data_dir=str(tmp_path)) as harness:
        await harness.post("/api/v1/auth/register", json={**ADA, "email": "ADMIN@Example.com"})

        tokens = await harness.post(
            "/api/v1/auth/login", json={"email": "admin@example.com", "password": ADA["password"]}
        )

    assert harness.runtime.verifier.verify(tokens.json()["access_token"]).roles == frozenset()


async def test_admin_user_ids_get_the_admin_role(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([auth], database_url=database_url, data_dir=str(tmp_path)) as first:
        user_id = (await first.post("/api/v1/auth/register", json=ADA)).json()["id"]

    async with ModuleHarness(
        [auth], database_url=database_url, data_dir=str(tmp_path), admin_user_ids=(user_id,)
    ) as harness:
        roles = await roles_after_login(harness)

    assert roles == frozenset({"admin"})


async def test_grant_admin_on_the_server_makes_an_admin_and_revoke_undoes_it(database_url, tmp_path):  # type: ignore[no-untyped-def]
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"  # the CLI opens the same file
    async with ModuleHarness([auth], database_url=database_url, data_dir=str(tmp_path)) as harness:
        await harness.post("/api/v1/auth/register", json=ADA)
        before = await roles_after_login(harness)

        granted = await asyncio.to_thread(cli, database_url, tmp_path, "auth", "grant-admin", ADA["email"])
        after_grant = await roles_after_login(harness)
        revoked = await asyncio.to_thread(cli, database_url, tmp_path, "auth", "revoke-admin", ADA["email"])
        after_revoke = await roles_after_login(harness)
        unknown = await asyncio.to_thread(
            cli, database_url, tmp_path, "auth", "grant-admin", "no@example.com"
        )

    assert granted.returncode == 0, granted.stderr
    assert (before, after_grant, after_revoke) == (frozenset(), frozenset({"admin"}), frozenset())
    assert revoked.returncode == 0, revoked.stderr
    assert unknown.returncode != 0
    assert "no account" in unknown.stderr
