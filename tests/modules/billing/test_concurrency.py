"""Two plan changes of one subscription version, released together: one wins, the
other is refused and changed nothing — no invoice, no event, the plan the winner chose.

On PostgreSQL the gate makes both read before either writes, so the loser meets the
optimistic lock (409 SubscriptionChangedConcurrently); SQLite queues writers, so
there the loser meets the If-Match check (412)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from modules.billing.contracts import InvoiceIssued, SubscriptionChanged
from modules.billing.service import provide_billing_service

PATH = "/api/v1/billing/subscription"
DEC_1 = datetime(2026, 12, 1, 0, 5, tzinfo=UTC)


async def test_two_upgrades_of_one_version_invoice_once(harness, alice):  # type: ignore[no-untyped-def]
    etag = (await harness.get(PATH, user=alice)).headers["ETag"]
    published = len(harness.bus.published)

    async with harness.writers_meet("billing", "billing_subscriptions") as gate:
        answers = await harness.race(
            ("PUT", PATH, {"json": {"plan": "pro"}, "headers": {"If-Match": etag}, "user": alice}),
            ("PUT", PATH, {"json": {"plan": "team"}, "headers": {"If-Match": etag}, "user": alice}),
        )

    assert gate.met
    winner, loser = sorted(answers, key=lambda r: r.status_code)
    assert (winner.status_code, loser.status_code) == (200, 409 if gate.writers else 412), loser.text
    assert loser.headers["content-type"] == "application/problem+json"
    plan = winner.json()["plan"]
    assert (await harness.get(PATH, user=alice)).json()["plan"] == plan
    invoices = (await harness.get("/api/v1/billing/invoices", user=alice)).json()["items"]
    assert [invoice["plan"] for invoice in invoices] == [plan]
    changes = harness.bus.published[published:]
    assert sorted(e.type for e in changes) == sorted(
        [InvoiceIssued.__event_type__, SubscriptionChanged.__event_type__]
    )
    assert [e.plan for e in harness.published(SubscriptionChanged)] == ["free", plan]


async def test_two_period_closes_that_overlap_renew_and_invoice_once(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put(PATH, json={"plan": "pro"}, user=alice)
    service = provide_billing_service(harness.runtime.module("billing"))
    issued = len(harness.published(InvoiceIssued))

    async with harness.writers_meet("billing", "billing_subscriptions") as gate:
        results = await asyncio.gather(service.close_period(DEC_1), service.close_period(DEC_1))
    await harness.settle()

    assert gate.met
    assert sorted(r.renewed for r in results) == [0, 1]
    renewal = [invoice for result in results for invoice in result.invoices]
    assert [e.invoice_id for e in harness.published(InvoiceIssued)[issued:]] == renewal
    assert len(renewal) == 1
