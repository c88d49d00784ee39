"""Per-module schemas: Alembic revisions with one version table per module.

A module keeps its revisions in its own folder (`Module.migrations`) and its
version table is `<module>_alembic_version`, so modules sharing one database
(all-in-one) or each with their own (split) migrate independently. The Alembic
environment is the kernel's (`cloudtaskhub/db/alembic/env.py`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cloudtaskhub.module import Module

__all__ = ["alembic_config", "bootstrap_schema", "make_revision", "upgrade"]

_ENV = Path(__file__).parent / "alembic"


def alembic_config(module: Module, connection: Any = None) -> Config:
    if module.migrations is None:
        raise ValueError(f"module {module.name} declares no migrations folder")
    config = Config()
    config.set_main_option("script_location", str(_ENV))
    config.set_main_option("version_locations", str(module.migrations))
    config.set_main_option("path_separator", "os")
    config.attributes["module"] = module
    config.attributes["connection"] = connection
    return config


def version_table(module: Module) -> str:
    return f"{module.name}_alembic_version"


async def upgrade(module: Module, engine: AsyncEngine, revision: str = "heads") -> None:
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas that start together (a first deploy) would otherwise race to create
            # the same tables and all but one fail; the lock ends with the transaction.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": migration_lock_key(module)}
            )
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(module, sync), revision))


def migration_lock_key(module: Module) -> int:
    """A stable 63-bit advisory-lock key per module (Python's hash() is salted per process)."""
    digest = hashlib.sha256(f"cloudtaskhub.migrate.{module.name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


async def make_revision(module: Module, engine: AsyncEngine, message: str) -> None:
    """Autogenerate a revision from the difference between the database and the models."""
    await upgrade(module, engine)
    async with engine.begin() as connection:
        await connection.run_sync(
            lambda sync: command.revision(
                alembic_config(module, sync),
                message=message,
                autogenerate=True,
                version_path=str(module.migrations),
            )
        )


async def bootstrap_schema(module: Module, engine: AsyncEngine, how: str) -> None:
    if how == "none":
        return
    if how == "migrate" and module.migrations is not None:
        await upgrade(module, engine)
        return
    async with engine.begin() as connection:
        await connection.run_sync(module.metadata.create_all)
