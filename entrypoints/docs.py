"""`cloudtaskhub docs` and `cloudtaskhub contracts ...`: generated docs and the contract gate.

Both read the module registry; run them from the repository root.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cloudtaskhub import compatibility
from cloudtaskhub.docs import EventCatalog, render_docs, stale_files, write_docs
from entrypoints.registry import ALL_MODULES

__all__ = ["contracts", "docs"]

DOCS_DIR = Path("docs/generated")
SNAPSHOT = Path("contracts.lock")


@click.command("docs")
@click.option(
    "--check", "check_only", is_flag=True, help="Fail if the committed docs are stale; write nothing."
)
@click.option(
    "--output", type=click.Path(path_type=Path), default=DOCS_DIR, show_default=True, help="Target folder."
)
def docs(check_only: bool, output: Path) -> None:
    """Generate AsyncAPI, OpenAPI and Mermaid module docs from the module descriptors."""
    files = render_docs(ALL_MODULES)
    if check_only:
        stale = stale_files(output, files)
        if stale:
            click.echo(
                f"{output} is stale ({', '.join(stale)}); run `cloudtaskhub docs` and commit.", err=True
            )
            raise SystemExit(1)
        click.echo(f"{output}: up to date ({len(files)} files)")
        return
    changed = write_docs(output, files)
    click.echo(
        f"{output}: {len(changed)} of {len(files)} files changed"
        + (": " + ", ".join(changed) if changed else "")
    )


@click.group("contracts")
def contracts() -> None:
    """Event contract compatibility (see docs/operations.md, 'Event contract evolution')."""


def _current() -> list:  # type: ignore[type-arg]
    return EventCatalog(ALL_MODULES).contracts


@contracts.command("check")
@click.option(
    "--against",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=SNAPSHOT,
    show_default=True,
    help="The snapshot taken at the last release.",
)
def contracts_check(against: Path) -> None:
    """Fail on a breaking change to an event type version released in the snapshot."""
    report = compatibility.check(json.loads(against.read_text(encoding="utf-8")), _current())
    for line in report.lines():
        click.echo(line, err=not report.ok)
    if not report.ok:
        raise SystemExit(1)
    click.echo(f"contracts compatible with {against}")


@contracts.command("snapshot")
@click.option(
    "--output", type=click.Path(path_type=Path, dir_okay=False), default=SNAPSHOT, show_default=True
)
def contracts_snapshot(output: Path) -> None:
    """Record every event contract as released (run at release time, then commit)."""
    document = compatibility.snapshot(_current())
    output.write_text(compatibility.dumps(document), encoding="utf-8")
    click.echo(f"{output}: {len(document['events'])} event types")
