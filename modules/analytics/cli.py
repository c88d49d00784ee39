"""`cloudtaskhub analytics ...` commands."""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cloudtaskhub.cli import module_command
from cloudtaskhub.runtime import ModuleRuntime
from modules.analytics.service import provide_analytics_service

__all__ = ["analytics_cli"]


@click.group("analytics")
def analytics_cli() -> None:
    """Analytics projections."""


@module_command("analytics", name="rebuild")
async def rebuild(module: ModuleRuntime) -> None:
    """Drop the projections and rebuild them from the event log."""
    with Progress(
        TextColumn("replaying events"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    ) as bar:
        job = bar.add_task("replay", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(job, completed=done, total=total)

        replayed = await provide_analytics_service(module).rebuild(progress=advance)
    click.echo(f"rebuilt analytics projections from {replayed} events")


analytics_cli.add_command(rebuild)
