"""Period close renews subscriptions and invoices paid plans exactly once per period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from click.testing import CliRunner

from entrypoints.cli import main
from modules.billing.contracts import InvoiceIssued, SubscriptionChanged
from modules.billing.service import provide_billing_service
from tests.modules.billing.conftest import registered

DEC_1 = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)


async def test_close_period_twice_issues_one_renewal_invoice_per_paid_subscription(harness):  # type: ignore[no-untyped-def]
    pro = await registered(harness, "pro@example.com")
    team = await registered(harness, "team@example.com")
    await registered(harness, "free@example.com")
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=pro)
    await harness.put("/api/v1/billing/subscription", json={"plan": "team"}, user=team)
    service = provide_billing_service(harness.runtime.module("billing"))

    first = await service.close_period(DEC_1)
    second = await service.close_period(DEC_1)
    await harness.settle()

    assert (first.renewed, len(first.invoices)) == (3, 2)
    assert (second.renewed, second.invoices) == (0, [])
    renewals = [e for e in harness.published(InvoiceIssued) if e.invoice_id in first.invoices]
    assert sorted((e.user_id, e.total_cents) for e in renewals) == sorted([(pro.id, 1200), (team.id, 4900)])


async def test_concurrent_period_closes_invoice_each_period_once(harness):  # type: ignore[no-untyped-def]
    users = [await registered(harness, f"user{i}@example.com") for i in range(5)]
    for user in users:
        await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=user)
    service = provide_billing_service(harness.runtime.module("billing"))

    results = await asyncio.gather(*(service.close_period(DEC_1) for _ in range(3)))

    issued = [invoice for result in results for invoice in result.invoices]
    assert len(issued) == len(set(issued)) == 5
    assert sum(result.renewed for result in results) == 5


async def test_renewal_moves_the_subscription_to_the_next_period(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)

    await provide_billing_service(harness.runtime.module("billing")).close_period(DEC_1)
    harness.clock.set(DEC_1)
    body = (await harness.get("/api/v1/billing/subscription", user=alice)).json()

    assert (body["plan"], body["current_period_start"]) == ("pro", "2026-12-01T00:00:00Z")
    assert body["current_period_end"] == "2027-01-01T00:00:00Z"
    renewed = await harness.expect(
        SubscriptionChanged, where=lambda e: e.period_start == DEC_1.replace(minute=0)
    )
    assert renewed.previous_plan == renewed.plan == "pro"


async def test_renewal_invoice_bills_the_full_new_period(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)
    closed = await provide_billing_service(harness.runtime.module("billing")).close_period(DEC_1)

    invoice = (await harness.get(f"/api/v1/billing/invoices/{closed.invoices[0]}", user=alice)).json()

    assert invoice["total_cents"] == 1200
    assert invoice["period_start"] == "2026-12-01T00:00:00Z"
    assert invoice["lines"][0]["description"] == "Pro plan, 2026-12-01 to 2026-12-31"


async def test_a_subscription_months_behind_is_renewed_period_by_period(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)

    closed = await provide_billing_service(harness.runtime.module("billing")).close_period(
        datetime(2027, 2, 10, tzinfo=UTC)
    )

    assert (closed.renewed, len(closed.invoices)) == (3, 3)  # Dec, Jan, Feb


async def test_cli_close_period_run_twice_issues_one_invoice(
    harness, alice, database_url, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)
    monkeypatch.setenv("CTH_DATABASE_URL", database_url)
    monkeypatch.setenv("CTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CTH_DB_BOOTSTRAP", "create")
    runner = CliRunner()

    first = await asyncio.to_thread(runner.invoke, main, ["billing", "close-period", "--at", "2026-12-01"])
    second = await asyncio.to_thread(runner.invoke, main, ["billing", "close-period", "--at", "2026-12-01"])

    assert "issued 1 invoices" in first.output, first.output
    assert "issued 0 invoices" in second.output, second.output
    page = (await harness.get("/api/v1/billing/invoices", user=alice)).json()
    assert [invoice["total_cents"] for invoice in page["items"]] == [1200, 560]
