"""Subscriptions: free on registration, plan changes, prorated upgrade invoices."""

from __future__ import annotations

from modules.auth.contracts import UserRegistered
from modules.billing.contracts import InvoiceIssued, PlanLimits, SubscriptionChanged
from tests.modules.billing.conftest import caller


async def test_new_user_gets_a_free_subscription(harness, alice):  # type: ignore[no-untyped-def]
    response = await harness.get("/api/v1/billing/subscription", user=alice)

    assert response.status_code == 200
    body = response.json()
    assert body["plan"] == "free"
    assert body["status"] == "active"
    assert body["current_period_start"] == "2026-11-01T00:00:00Z"
    assert body["current_period_end"] == "2026-12-01T00:00:00Z"
    event = await harness.expect(SubscriptionChanged, where=lambda e: e.user_id == alice.id)
    assert (event.plan, event.previous_plan) == ("free", None)


async def test_registration_redelivered_creates_one_subscription(harness):  # type: ignore[no-untyped-def]
    user = caller(harness, "bob@example.com")
    envelope = await harness.publish(UserRegistered(user_id=user.id, email=user.email, display_name="Bob"))

    await harness.deliver(envelope)

    assert [e.user_id for e in harness.published(SubscriptionChanged)] == [user.id]


async def test_upgrade_publishes_subscription_changed_with_new_limits(harness, alice):  # type: ignore[no-untyped-def]
    response = await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)

    assert response.status_code == 200
    assert response.json()["plan"] == "pro"
    event = await harness.expect(SubscriptionChanged, where=lambda e: e.plan == "pro")
    assert event.user_id == alice.id
    assert event.previous_plan == "free"
    assert event.limits == PlanLimits(projects=20, members_per_project=25, tasks_per_month=5000)
    assert event.period_end.isoformat() == "2026-12-01T00:00:00+00:00"


async def test_upgrade_issues_an_invoice_prorated_by_days_left(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)

    issued = await harness.expect(InvoiceIssued, where=lambda e: e.user_id == alice.id)
    invoice = (await harness.get(f"/api/v1/billing/invoices/{issued.invoice_id}", user=alice)).json()

    assert (issued.total_cents, issued.currency, issued.plan) == (560, "USD", "pro")  # 1200 * 14/30
    assert invoice["total_cents"] == 560
    assert invoice["number"] == "INV-2026-000001"
    assert invoice["status"] == "issued"
    assert invoice["lines"] == [
        {
            "description": "Pro plan, 2026-11-17 to 2026-11-30 (14 of 30 days)",
            "quantity": 1,
            "unit_cents": 560,
            "amount_cents": 560,
        }
    ]


async def test_upgrade_between_paid_plans_credits_the_unused_days(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)

    await harness.put("/api/v1/billing/subscription", json={"plan": "team"}, user=alice)

    issued = await harness.expect(InvoiceIssued, where=lambda e: e.plan == "team")
    invoice = (await harness.get(f"/api/v1/billing/invoices/{issued.invoice_id}", user=alice)).json()
    assert [line["amount_cents"] for line in invoice["lines"]] == [2287, -560]
    assert issued.total_cents == 1727
    assert invoice["number"] == "INV-2026-000002"


async def test_downgrade_takes_effect_at_once_without_invoice_or_refund(harness, alice):  # type: ignore[no-untyped-def]
    await harness.put("/api/v1/billing/subscription", json={"plan": "team"}, user=alice)

    response = await harness.put("/api/v1/billing/subscription", json={"plan": "free"}, user=alice)

    assert response.json()["plan"] == "free"
    assert len(harness.published(InvoiceIssued)) == 1
    assert (
        await harness.expect(SubscriptionChanged, where=lambda e: e.plan == "free" and e.previous_plan)
    ).limits.projects == 3


async def test_choosing_the_current_plan_changes_nothing(harness, alice):  # type: ignore[no-untyped-def]
    response = await harness.put("/api/v1/billing/subscription", json={"plan": "free"}, user=alice)

    assert response.status_code == 200
    assert len(harness.published(SubscriptionChanged)) == 1


async def test_unknown_plan_is_refused_with_422(harness, alice):  # type: ignore[no-untyped-def]
    response = await harness.put("/api/v1/billing/subscription", json={"plan": "gold"}, user=alice)

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "plan"


async def test_stale_if_match_is_refused_with_412(harness, alice):  # type: ignore[no-untyped-def]
    current = await harness.get("/api/v1/billing/subscription", user=alice)
    await harness.put("/api/v1/billing/subscription", json={"plan": "pro"}, user=alice)
    published = len(harness.bus.published)

    response = await harness.put(
        "/api/v1/billing/subscription",
        json={"plan": "team"},
        user=alice,
        headers={"If-Match": current.headers["ETag"]},
    )

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert (await harness.get("/api/v1/billing/subscription", user=alice)).json()["plan"] == "pro"
    invoices = (await harness.get("/api/v1/billing/invoices", user=alice)).json()["items"]
    assert [invoice["plan"] for invoice in invoices] == ["pro"]
    assert len(harness.bus.published) == published  # no SubscriptionChanged, no InvoiceIssued


async def test_plans_list_prices_in_cents_and_limits(harness):  # type: ignore[no-untyped-def]
    response = await harness.get("/api/v1/billing/plans")

    plans = {plan["code"]: plan for plan in response.json()}
    assert plans["pro"]["monthly_price_cents"] == 1200
    assert plans["free"]["limits"] == {"projects": 3, "members_per_project": 5, "tasks_per_month": 100}
