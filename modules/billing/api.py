"""HTTP API of the billing module: /api/v1/billing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, put
from litestar.di import Provide

from cloudtaskhub.http.pagination import Page, PageRequest, encode_cursor
from cloudtaskhub.http.versioning import etag
from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from modules.billing.contracts import PlanLimits
from modules.billing.models import InvoiceModel, SubscriptionModel
from modules.billing.plans import PLANS
from modules.billing.service import BillingService, provide_billing_service


class Plan(msgspec.Struct):
    code: str
    name: str
    monthly_price_cents: int
    currency: str
    limits: PlanLimits


class Subscription(msgspec.Struct):
    plan: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    limits: PlanLimits
    version: int


class PlanChange(msgspec.Struct):
    plan: Annotated[str, msgspec.Meta(min_length=1, max_length=20, description="free, pro or team")]


class Usage(msgspec.Struct):
    plan: str
    period_start: datetime
    period_end: datetime
    projects: int
    tasks_created: int
    members: int
    limits: PlanLimits


class InvoiceLine(msgspec.Struct):
    description: str
    quantity: int
    unit_cents: int
    amount_cents: int


class Invoice(msgspec.Struct):
    id: UUID
    number: str
    plan: str
    period_start: datetime
    period_end: datetime
    total_cents: int
    currency: str
    status: str
    issued_at: datetime


class InvoiceDetail(Invoice):
    lines: list[InvoiceLine]


def provide_service(runtime: Runtime) -> BillingService:
    return provide_billing_service(runtime.module("billing"))


def _subscription(model: SubscriptionModel) -> Response[Subscription]:
    body = Subscription(
        plan=model.plan,
        status=model.status,
        current_period_start=model.current_period_start,
        current_period_end=model.current_period_end,
        limits=PLANS[model.plan].limits,
        version=model.version,
    )
    return Response(body, headers={"ETag": etag(model.version)})


def _invoice(model: InvoiceModel) -> Invoice:
    return Invoice(
        id=model.id,
        number=model.number,
        plan=model.plan,
        period_start=model.period_start,
        period_end=model.period_end,
        total_cents=model.total_cents,
        currency=model.currency,
        status=model.status,
        issued_at=model.issued_at,
    )


class BillingController(Controller):
    path = "/api/v1/billing"
    tags = ["billing"]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}
    security = [{"BearerToken": []}]

    @get("/plans", summary="The plan catalogue", sync_to_thread=False, security=[])
    def plans(self) -> list[Plan]:
        return [Plan(p.code, p.name, p.monthly_price_cents, p.currency, p.limits) for p in PLANS.values()]

    @get("/subscription", summary="The caller's subscription")
    async def subscription(self, principal: Principal, service: BillingService) -> Response[Subscription]:
        return _subscription(await service.get_subscription(principal.user_id))

    @put("/subscription", summary="Change plan (an upgrade issues a prorated invoice)")
    async def change_plan(
        self, data: PlanChange, principal: Principal, service: BillingService, expected_version: int | None
    ) -> Response[Subscription]:
        return _subscription(await service.change_plan(principal.user_id, data.plan, expected_version))

    @get("/usage", summary="Usage in the current period with the plan's limits")
    async def usage(self, principal: Principal, service: BillingService) -> Usage:
        usage = await service.usage(principal.user_id)
        return Usage(
            plan=usage.plan,
            period_start=usage.period_start,
            period_end=usage.period_end,
            projects=usage.projects,
            tasks_created=usage.tasks_created,
            members=usage.members,
            limits=usage.limits,
        )

    @get("/invoices", summary="The caller's invoices, newest first")
    async def invoices(
        self, principal: Principal, service: BillingService, page: PageRequest
    ) -> Page[Invoice]:
        position = page.position(datetime, UUID)
        after = (position[0], position[1]) if position else None
        rows, last = await service.list_invoices(principal.user_id, page.limit, after)
        cursor = encode_cursor([last[0].isoformat(), str(last[1])]) if last else None
        return Page(items=[_invoice(row) for row in rows], next_cursor=cursor)

    @get("/invoices/{invoice_id:uuid}", summary="One invoice with its lines")
    async def invoice(self, invoice_id: UUID, principal: Principal, service: BillingService) -> InvoiceDetail:
        model = await service.get_invoice(principal.user_id, invoice_id)
        return InvoiceDetail(
            **msgspec.structs.asdict(_invoice(model)),
            lines=[InvoiceLine(x.description, x.quantity, x.unit_cents, x.amount_cents) for x in model.lines],
        )
