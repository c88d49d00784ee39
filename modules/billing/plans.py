"""The plan catalogue, billing periods and proration: defined here and nowhere else.

Money is integer cents in the plan's currency; never a float.

*Period*: a calendar month in UTC, `[first day 00:00, first day of next month 00:00)`.

*Proration*: a change of plan mid-period is charged for the days left in the
period, counting the day of the change:

    amount = price_cents * days_left / days_in_period

rounded half-up to the cent, computed with `Decimal` (exact; no float ever sees
money). An upgrade from one paid plan to a dearer one is invoiced as the new
plan's prorated amount minus a credit line for the old plan's unused days (the
same formula), so the total is the price difference for the remaining days.

*Downgrade*: takes effect immediately; what was paid is not refunded and no
invoice is issued. A renewal invoices the full price of the plan for the new period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from modules.billing.contracts import PlanLimits

__all__ = ["DEFAULT_PLAN", "PLANS", "Plan", "Proration", "period_after", "period_containing", "prorate"]


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    monthly_price_cents: int
    currency: str
    limits: PlanLimits

    @property
    def is_paid(self) -> bool:
        return self.monthly_price_cents > 0


PLANS: dict[str, Plan] = {
    plan.code: plan
    for plan in (
        Plan("free", "Free", 0, "USD", PlanLimits(projects=3, members_per_project=5, tasks_per_month=100)),
        Plan(
            "pro", "Pro", 1200, "USD", PlanLimits(projects=20, members_per_project=25, tasks_per_month=5000)
        ),
        Plan(
            "team",
            "Team",
            4900,
            "USD",
            PlanLimits(projects=1000, members_per_project=500, tasks_per_month=1_000_000),
        ),
    )
}

#: Every user starts on this plan.
DEFAULT_PLAN = "free"


def period_containing(moment: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) that contains `moment`."""
    moment = moment.astimezone(UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    return start, _first_of_next_month(start)


def period_after(period_end: datetime) -> tuple[datetime, datetime]:
    """The period that starts where the one ending at `period_end` ends."""
    start = period_end.astimezone(UTC)
    return start, _first_of_next_month(start)


def _first_of_next_month(start: datetime) -> datetime:
    if start.month == 12:
        return datetime(start.year + 1, 1, 1, tzinfo=UTC)
    return datetime(start.year, start.month + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Proration:
    days_left: int
    days_in_period: int

    @classmethod
    def at(cls, moment: datetime, period_start: datetime, period_end: datetime) -> Proration:
        """Days left counting the day of `moment` itself (a change on the 1st pays the whole month)."""
        days_in_period = (period_end.date() - period_start.date()).days
        days_left = (period_end.date() - moment.astimezone(UTC).date()).days
        return cls(days_left=max(0, min(days_left, days_in_period)), days_in_period=days_in_period)


def prorate(price_cents: int, proration: Proration) -> int:
    """`price_cents * days_left / days_in_period`, rounded half-up to the cent."""
    exact = Decimal(price_cents) * proration.days_left / proration.days_in_period
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
