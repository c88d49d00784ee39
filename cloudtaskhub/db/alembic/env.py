"""Alembic environment shared by every module (see cloudtaskhub.db.migrations)."""

from __future__ import annotations

from alembic import context

config = context.config
module = config.attributes["module"]
connection = config.attributes["connection"]
if connection is None:  # pragma: no cover - always run programmatically
    raise RuntimeError("run migrations through `cloudtaskhub db upgrade`")

context.configure(
    connection=connection,
    target_metadata=module.metadata,
    version_table=f"{module.name}_alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
    # SQLite reflects GUID columns as NUMERIC: type comparison there only invents changes.
    compare_type=connection.dialect.name != "sqlite",
    include_name=lambda name, type_, _parent: type_ != "table" or (name or "").startswith(f"{module.name}_"),
)
with context.begin_transaction():
    context.run_migrations()
