"""Invoices: listed newest first, private to their owner, immutable."""

from __future__ import annotations

import pytest

from modules.billing.contracts import InvoiceIssued
from modules.billing.models import InvoiceIsImmutable, InvoiceModel
from tests.modules.billing.conftest import registered


async def test_invoices_are_listed_newest_first_with_cursor(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)
    await harness.put("/api/v1/billing/subscription", json={"plan": "team"}, user=alice)

    first = (await harness.get("/api/v1/billing/invoices?limit=1", user=alice)).json()
    second = (
        await harness.get(f"/api/v1/billing/invoices?limit=1&cursor={first['next_cursor']}", user=alice)
    ).json()

    assert [i["plan"] for i in first["items"] + second["items"]] == ["team", "pro"]
    assert second["next_cursor"] is None


async def test_someone_elses_invoice_is_not_found(harness, alice):  # type: ignore[no-untyped-def]
    mallory = await registered(harness, "mallory@example.com")
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)
    issued = await harness.expect(InvoiceIssued)

    response = await harness.get(f"/api/v1/billing/invoices/{issued.invoice_id}", user=mallory)

    assert response.status_code == 404
    assert (await harness.get("/api/v1/billing/invoices", user=mallory)).json()["items"] == []


async def test_an_issued_invoice_cannot_be_changed(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)
    issued = await harness.expect(InvoiceIssued)
    uow = harness.runtime.module("billing").uow

    with pytest.raises(InvoiceIsImmutable):
        async with uow.transaction() as tx:
            invoice = await tx.session.get(InvoiceModel, issued.invoice_id)
            invoice.total_cents = 1
            await tx.session.flush()

    stored = await harness.get(f"/api/v1/billing/invoices/{issued.invoice_id}", user=alice)
    assert stored.json()["total_cents"] == 560
