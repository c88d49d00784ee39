"""The `cloudtaskhub` command."""

from __future__ import annotations

import os
from uuid import UUID

import click
from sqlalchemy import select

from cloudtaskhub.cli import open_runtime, run_cli
from cloudtaskhub.db.migrations import make_revision, upgrade
from cloudtaskhub.serving import serve as serve_app
from cloudtaskhub.settings import SettingsError, load_settings
from entrypoints.docs import contracts, docs
from entrypoints.registry import ALL_MODULES, select_modules
from entrypoints.split import dev


def _modules(option: str | None) -> list:  # type: ignore[type-arg]
    names = (option or os.environ.get("CTH_MODULES") or "all").split(",")
    try:
        return select_modules(names)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--modules") from None


modules_option = click.option(
    "--modules",
    "modules_",
    default=None,
    metavar="all|NAME[,NAME...]",
    help="Modules to act on (default: $CTH_MODULES or all).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(context: click.Context) -> None:
    """CloudTaskHub: one process on a laptop or six services on Swarm, from the same code."""
    context.obj = {"modules": list(ALL_MODULES)}


@main.command()
@modules_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", default=1, show_default=True, type=int, help="uvicorn worker processes.")
def serve(modules_: str | None, host: str, port: int, workers: int) -> None:
    """Serve the selected modules over HTTP (all six by default)."""
    selected = _modules(modules_)
    os.environ["CTH_MODULES"] = ",".join(m.name for m in selected)
    try:
        settings = load_settings()  # fail fast, naming the bad variable, before uvicorn starts
    except SettingsError as error:
        raise click.ClickException(f"bad configuration: {error}") from None
    serve_app(
        "entrypoints.asgi:create_selected",
        host=host,
        port=port,
        workers=workers,
        trusted_proxies=tuple(settings.trusted_proxies),
    )


@main.group()
def db() -> None:
    """Database schema (per-module Alembic migrations)."""


@db.command("upgrade")
@modules_option
def db_upgrade(modules_: str | None) -> None:
    """Apply every pending migration of the selected modules."""

    async def run() -> None:
        settings = load_settings()
        async with open_runtime([], settings) as runtime:
            for module in _modules(modules_):
                await upgrade(module, runtime.databases.engine(settings.database_url_for(module.name)))
                click.echo(f"{module.name}: up to date")

    run_cli(run())


@db.command("revision")
@click.option("--module", "module_name", required=True, help="Module whose models changed.")
@click.option("-m", "--message", required=True, help="What the revision changes.")
def db_revision(module_name: str, message: str) -> None:
    """Autogenerate a migration for one module from its models."""

    async def run() -> None:
        settings = load_settings()
        (module,) = _modules(module_name)
        async with open_runtime([], settings) as runtime:
            await make_revision(
                module, runtime.databases.engine(settings.database_url_for(module.name)), message
            )

    run_cli(run())


@main.group()
def outbox() -> None:
    """The transactional outbox."""


@outbox.command("status")
@modules_option
def outbox_status(modules_: str | None) -> None:
    """Pending and published rows per module."""

    async def run() -> None:
        async with open_runtime(_modules(modules_)) as runtime:
            click.echo(f"{'module':<14}{'pending':>9}{'oldest (s)':>12}{'published':>11}")
            for module in runtime.modules.values():
                status = await module.outbox_status()
                oldest = (
                    f"{status.oldest_pending_seconds:.1f}"
                    if status.oldest_pending_seconds is not None
                    else "-"
                )
                click.echo(f"{status.module:<14}{status.pending:>9}{oldest:>12}{status.published:>11}")

    run_cli(run())


@main.group("dead-letters")
def dead_letters() -> None:
    """Events whose handler kept failing."""


@dead_letters.command("list")
@modules_option
@click.option("--all", "show_all", is_flag=True, help="Include replayed dead letters.")
def dead_letters_list(modules_: str | None, show_all: bool) -> None:
    """List dead letters (id, module, type, attempts, error)."""

    async def run() -> None:
        async with open_runtime(_modules(modules_)) as runtime:
            for module in runtime.modules.values():
                table = module.tables.dead_letters
                query = select(table).order_by(table.c.failed_at)
                if not show_all:
                    query = query.where(table.c.replayed_at.is_(None))
                async with module.uow.read() as session:
                    rows = (await session.execute(query)).all()
                for row in rows:
                    state = "replayed" if row.replayed_at else "pending"
                    click.echo(
                        f"{row.id}  {module.name:<13} {row.type}  "
                        f"attempts={row.attempts} {state}  {row.error}"
                    )

    run_cli(run())


@dead_letters.command("replay")
@modules_option
@click.argument("ids", nargs=-1)
def dead_letters_replay(modules_: str | None, ids: tuple[str, ...]) -> None:
    """Run the handler of each dead letter again (all pending ones when no ID is given)."""

    async def run() -> int:
        failed = 0
        async with open_runtime(_modules(modules_)) as runtime:
            for module in runtime.modules.values():
                if module.dispatcher is None:
                    continue
                table = module.tables.dead_letters
                async with module.uow.read() as session:
                    query = select(table.c.id).where(table.c.replayed_at.is_(None))
                    pending = [row.id for row in (await session.execute(query)).all()]
                wanted = [i for i in pending if not ids or str(i) in ids]
                for dead_letter_id in wanted:
                    try:
                        await module.dispatcher.replay(UUID(str(dead_letter_id)))
                        click.echo(f"{dead_letter_id}  {module.name}: replayed")
                    except Exception as error:
                        failed += 1
                        click.echo(f"{dead_letter_id}  {module.name}: failed again: {error}", err=True)
        return failed

    if run_cli(run()):
        raise SystemExit(1)


for _module in ALL_MODULES:
    if _module.cli is not None:
        main.add_command(_module.cli, name=_module.name)

main.add_command(dev)
main.add_command(docs)
main.add_command(contracts)

if __name__ == "__main__":
    main()
