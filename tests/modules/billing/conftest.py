"""Billing fixtures: the billing module on a fixed clock (17 Nov 2026: 14 of 30 days left)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloudtaskhub.clock import ManualClock
from cloudtaskhub.testing import ModuleHarness, TestUser
from modules.auth.contracts import UserRegistered
from modules.billing import module as billing

NOV_17 = datetime(2026, 11, 17, 10, 30, tzinfo=UTC)


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [billing],
        database_url=database_url,
        data_dir=str(tmp_path),
        clock=ManualClock(NOV_17),
        environ={"CTH_BILLING_CLOSE_PERIOD_IN_BACKGROUND": "false"},
    ) as h:
        yield h


def caller(harness: ModuleHarness, email: str) -> TestUser:
    """A caller whose token is valid in real time (the verifier does not read the manual clock)."""
    moment = harness.clock.now()
    harness.clock.set(datetime.now(UTC))  # type: ignore[attr-defined]
    try:
        return harness.user(email)
    finally:
        harness.clock.set(moment)  # type: ignore[attr-defined]


async def registered(harness: ModuleHarness, email: str) -> TestUser:
    user = caller(harness, email)
    await harness.publish(UserRegistered(user_id=user.id, email=user.email, display_name=user.display_name))
    return user


@pytest.fixture
async def alice(harness):  # type: ignore[no-untyped-def]
    return await registered(harness, "alice@example.com")
