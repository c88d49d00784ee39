"""Billing's background task and CLI command: period close."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import click

from cloudtaskhub.cli import module_command
from cloudtaskhub.runtime import ModuleRuntime
from modules.billing.service import provide_billing_service
from modules.billing.settings import BillingSettings

__all__ = ["billing_cli", "close_periods_periodically"]

log = logging.getLogger("cloudtaskhub.billing")


async def close_periods_periodically(module: ModuleRuntime) -> None:
    """Renew due subscriptions every `close_period_interval_seconds` (a no-op when none is due)."""
    config: BillingSettings = module.config
    if not config.close_period_in_background:
        return
    service = provide_billing_service(module)
    while True:
        try:
            closed = await service.close_period()
            if closed.renewed:
                log.info("renewed %d subscriptions, issued %d invoices", closed.renewed, len(closed.invoices))
        except Exception:  # the next run retries; a bad run must not stop the loop
            log.exception("period close failed")
        await asyncio.sleep(config.close_period_interval_seconds)


@click.group(name="billing", help="Billing: plans, subscriptions and invoices.")
def billing_cli() -> None:
    pass


@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Close periods ended by this UTC date/time (default: now).",
)
@module_command(
    "billing", name="close-period", help="Renew subscriptions whose period ended; invoice paid plans."
)
async def close_period(module: ModuleRuntime, at: datetime | None) -> None:
    moment = at.replace(tzinfo=UTC) if at is not None else None
    closed = await provide_billing_service(module).close_period(moment)
    click.echo(f"renewed {closed.renewed} subscriptions, issued {len(closed.invoices)} invoices")


billing_cli.add_command(close_period)
