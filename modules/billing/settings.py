"""Billing's own configuration, read from `CTH_BILLING_*`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BillingSettings"]


@dataclass(frozen=True, kw_only=True)
class BillingSettings:
    #: How often the billing process runs period close in the background. Safe on
    #: every replica: each period is renewed and invoiced exactly once.
    close_period_interval_seconds: float = 300.0
    #: Turn the background period close off (e.g. when a cron runs the CLI instead).
    close_period_in_background: bool = True
