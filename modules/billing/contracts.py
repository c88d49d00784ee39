"""Events the billing module publishes: its only public surface.

`PlanLimits` is the read DTO other modules (project quotas, gateway) consume
inside `SubscriptionChanged`.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec

from cloudtaskhub.events.contract import Event, event_type

__all__ = ["InvoiceIssued", "PlanLimits", "SubscriptionChanged"]


class PlanLimits(msgspec.Struct, frozen=True):
    """What a plan allows: owned projects, members per project, tasks created per month."""

    projects: int
    members_per_project: int
    tasks_per_month: int


class SubscriptionChanged(Event, frozen=True):
    """A user's plan is now `plan` with `limits`, until `period_end` (then renewed).

    Published when a user first gets the `free` plan on registration
    (`previous_plan` None), on every plan change (upgrade or downgrade; both take
    effect immediately) and when a period closes and the subscription renews
    (`previous_plan == plan`, new period).
    """

    __event_type__ = event_type("billing", "subscription_changed", 1)
    __subject__ = "user_id"

    user_id: UUID
    plan: str
    limits: PlanLimits
    period_end: datetime
    subscription_id: UUID | None = None
    previous_plan: str | None = None
    period_start: datetime | None = None


class InvoiceIssued(Event, frozen=True):
    """An immutable invoice of `total_cents` in `currency` was issued to `user_id`.

    `number` is the human invoice number (`INV-2026-000001`), `plan` the plan billed.
    """

    __event_type__ = event_type("billing", "invoice_issued", 1)
    __subject__ = "invoice_id"

    invoice_id: UUID
    user_id: UUID
    total_cents: int
    currency: str
    number: str | None = None
    plan: str | None = None
