"""Each module's Alembic revisions build exactly the schema its models declare, and
every module has revisions: each owns tables (at least its outbox, inbox and dead
letters), so a module without revisions could not be deployed with `migrate`."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from cloudtaskhub.db.migrations import upgrade
from entrypoints.registry import ALL_MODULES


def _options(name: str, dialect: str) -> dict:  # type: ignore[type-arg]
    """Compare only this module's tables; its version table is Alembic's own."""
    return {
        "version_table": f"{name}_alembic_version",
        # SQLite reflects GUID columns as NUMERIC, so types are compared on PostgreSQL only.
        "compare_type": dialect != "sqlite",
        "include_name": lambda table, kind, _: kind != "table" or table.startswith(f"{name}_"),
    }


@pytest.mark.parametrize("module", ALL_MODULES, ids=[m.name for m in ALL_MODULES])
async def test_migrations_match_the_models(module, database_url):  # type: ignore[no-untyped-def]
    engine = create_async_engine(database_url)
    try:
        await upgrade(module, engine)
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts=_options(module.name, sync.dialect.name)),
                    module.metadata,
                )
            )
    finally:
        await engine.dispose()

    assert differences == []


@pytest.mark.parametrize("module", ALL_MODULES, ids=[m.name for m in ALL_MODULES])
def test_every_module_has_revisions_for_its_tables(module) -> None:  # type: ignore[no-untyped-def]
    revisions = sorted(module.migrations.glob("*.py")) if module.migrations is not None else []

    assert module.metadata.tables, f"{module.name} owns no table"
    assert revisions, f"{module.name} owns tables but has no Alembic revision"


@pytest.mark.parametrize("module", ALL_MODULES, ids=[m.name for m in ALL_MODULES])
def test_every_table_carries_its_modules_prefix(module) -> None:  # type: ignore[no-untyped-def]
    # The comparison above filters tables by this prefix; a table without it would go unchecked.
    assert [t for t in module.metadata.tables if not t.startswith(f"{module.name}_")] == []
