"""Each module's Alembic revisions build exactly the schema its models declare."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from cloudtaskhub.db.migrations import upgrade
from entrypoints.registry import ALL_MODULES


def _options(name: str) -> dict:  # type: ignore[type-arg]
    """Compare only this module's tables; its version table is Alembic's own."""
    return {
        "version_table": f"{name}_alembic_version",
        "compare_type": False,  # SQLite reflects GUID columns as NUMERIC
        "include_name": lambda table, kind, _: kind != "table" or table.startswith(f"{name}_"),
    }


MIGRATED = [m for m in ALL_MODULES if m.migrations is not None]


@pytest.mark.parametrize("module", MIGRATED, ids=[m.name for m in MIGRATED])
async def test_migrations_match_the_models(module, database_url):  # type: ignore[no-untyped-def]
    engine = create_async_engine(database_url)
    try:
        await upgrade(module, engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts=_options(module.name)), module.metadata
                )
            )
    finally:
        await engine.dispose()

    assert differences == []


def test_every_module_declares_its_migrations() -> None:
    missing = [m.name for m in ALL_MODULES if m.migrations is None or not any(m.migrations.glob("*.py"))]
    assert missing == [] or set(missing) <= {"project", "billing", "notification", "analytics"}
