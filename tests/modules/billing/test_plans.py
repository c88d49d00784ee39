"""Proration arithmetic: integer cents, half-up rounding, the day of the change counts."""

from __future__ import annotations

from datetime import UTC, datetime

from modules.billing.plans import PLANS, Proration, period_after, period_containing, prorate


def test_period_is_the_calendar_month_in_utc():
    start, end = period_containing(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))

    assert (start, end) == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert period_after(end) == (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC))


def test_proration_counts_the_day_of_the_change():
    start, end = period_containing(datetime(2026, 11, 1, tzinfo=UTC))

    assert Proration.at(datetime(2026, 11, 1, 9, tzinfo=UTC), start, end) == Proration(30, 30)
    assert Proration.at(datetime(2026, 11, 30, 23, tzinfo=UTC), start, end) == Proration(1, 30)


def test_prorated_amounts_round_half_up_to_the_cent():
    assert prorate(1, Proration(15, 30)) == 1  # 0.5 → 1
    assert prorate(4900, Proration(14, 30)) == 2287  # 2286.67
    assert prorate(1200, Proration(14, 30)) == 560
    assert prorate(1200, Proration(1, 3)) == 400


def test_prices_are_integer_cents():
    assert all(isinstance(plan.monthly_price_cents, int) for plan in PLANS.values())
    assert list(PLANS) == ["free", "pro", "team"]
