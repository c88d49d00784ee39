"""Billing use cases: subscriptions and plan changes, invoices, usage, period close."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from cloudtaskhub.clock import Clock, new_id
from cloudtaskhub.db import Transaction, UnitOfWork
from cloudtaskhub.db.statements import insert_ignoring
from cloudtaskhub.errors import Conflict, NotFound, PreconditionFailed, RuleViolated
from cloudtaskhub.runtime import ModuleRuntime
from modules.billing.contracts import InvoiceIssued, PlanLimits, SubscriptionChanged
from modules.billing.models import (
    InvoiceCounterModel,
    InvoiceLineModel,
    InvoiceModel,
    MemberUsageModel,
    ProjectUsageModel,
    SubscriptionModel,
    TaskUsageModel,
)
from modules.billing.plans import (
    DEFAULT_PLAN,
    PLANS,
    Plan,
    Proration,
    period_after,
    period_containing,
    prorate,
)

__all__ = [
    "BillingService",
    "ClosedPeriods",
    "InvoiceNotFound",
    "UnknownPlan",
    "Usage",
    "provide_billing_service",
]


class UnknownPlan(RuleViolated):
    """The requested plan code is not in the catalogue."""


class InvoiceNotFound(NotFound):
    template = "invoice not found"


class SubscriptionChangedConcurrently(Conflict):
    template = "the subscription was changed by another request; retry"


@dataclass(frozen=True)
class Usage:
    plan: str
    limits: PlanLimits
    period_start: datetime
    period_end: datetime
    projects: int
    tasks_created: int
    members: int


@dataclass(frozen=True)
class ClosedPeriods:
    """What one period-close run did: subscriptions renewed, renewal invoices issued."""

    renewed: int
    invoices: list[UUID]


@dataclass(frozen=True)
class _Line:
    description: str
    amount_cents: int


class BillingService:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    # -- subscriptions -------------------------------------------------------

    async def start_free_subscription(self, user_id: UUID) -> SubscriptionModel:
        """Give a user their first subscription (`free`); idempotent.

        Publishes `SubscriptionChanged` (with no `previous_plan`) when it creates one.
        """
        try:
            async with self._uow.transaction() as tx:
                return await self._subscription(tx, user_id)
        except IntegrityError:  # a concurrent first request created it
            async with self._uow.transaction() as tx:
                return await self._subscription(tx, user_id)

    async def get_subscription(self, user_id: UUID) -> SubscriptionModel:
        """The caller's subscription; users from before billing existed get `free` on first sight."""
        async with self._uow.read() as session:
            found = await session.scalar(
                select(SubscriptionModel).where(SubscriptionModel.user_id == user_id)
            )
        return found if found is not None else await self.start_free_subscription(user_id)

    async def change_plan(
        self, user_id: UUID, plan_code: str, expected_version: int | None = None
    ) -> SubscriptionModel:
        """Move the user to `plan_code` now.

        An upgrade (a dearer plan) issues an invoice prorated over the days left in the
        period (see `plans`); a downgrade issues none and refunds nothing. Publishes
        `SubscriptionChanged` and, with an invoice, `InvoiceIssued`. Choosing the
        current plan changes nothing. Raises UnknownPlan, PreconditionFailed (stale
        If-Match) and SubscriptionChangedConcurrently.
        """
        new = PLANS.get(plan_code)
        if new is None:
            raise UnknownPlan(field="plan", message=f"unknown plan; choose one of {', '.join(PLANS)}")
        try:
            async with self._uow.transaction() as tx:
                subscription = await self._subscription(tx, user_id)
                if expected_version is not None and expected_version != subscription.version:
                    raise PreconditionFailed(what="subscription", current=subscription.version)
                if subscription.plan == new.code:
                    return subscription
                old = PLANS[subscription.plan]
                now = self._clock.now()
                subscription.plan = new.code
                subscription.updated_at = now
                await tx.session.flush()  # bumps `version` (optimistic lock)
                if new.monthly_price_cents > old.monthly_price_cents:
                    await self._invoice_upgrade(tx, subscription, old, new, now)
                await tx.record(_changed(subscription, previous_plan=old.code))
        except StaleDataError:
            raise SubscriptionChangedConcurrently() from None
        return subscription

    async def _subscription(self, tx: Transaction, user_id: UUID) -> SubscriptionModel:
        found = await tx.session.scalar(select(SubscriptionModel).where(SubscriptionModel.user_id == user_id))
        if found is not None:
            return found
        now = self._clock.now()
        start, end = period_containing(now)
        subscription = SubscriptionModel(
            id=new_id(),
            user_id=user_id,
            plan=DEFAULT_PLAN,
            status="active",
            current_period_start=start,
            current_period_end=end,
            created_at=now,
            updated_at=now,
        )
        tx.session.add(subscription)
        await tx.session.flush()
        await tx.record(_changed(subscription, previous_plan=None))
        return subscription

    async def _invoice_upgrade(
        self, tx: Transaction, subscription: SubscriptionModel, old: Plan, new: Plan, now: datetime
    ) -> InvoiceModel:
        start, end = subscription.current_period_start, subscription.current_period_end
        proration = Proration.at(now, start, end)
        days = f"{proration.days_left} of {proration.days_in_period} days"
        lines = [
            _Line(f"{new.name} plan, {_span(now, end)} ({days})", prorate(new.monthly_price_cents, proration))
        ]
        if old.is_paid:
            lines.append(
                _Line(
                    f"Unused {old.name} plan, {_span(now, end)} ({days})",
                    -prorate(old.monthly_price_cents, proration),
                )
            )
        return await self._issue(tx, subscription, new, "upgrade", subscription.version, lines)

    # -- invoices ------------------------------------------------------------

    async def list_invoices(
        self, user_id: UUID, limit: int, after: tuple[datetime, UUID] | None
    ) -> tuple[list[InvoiceModel], tuple[datetime, UUID] | None]:
        """The user's invoices, newest first, keyset-paginated by (issued_at, id)."""
        query = select(InvoiceModel).where(InvoiceModel.user_id == user_id)
        if after is not None:
            issued_at, invoice_id = after
            query = query.where(
                or_(
                    InvoiceModel.issued_at < issued_at,
                    and_(InvoiceModel.issued_at == issued_at, InvoiceModel.id < invoice_id),
                )
            )
        query = query.order_by(InvoiceModel.issued_at.desc(), InvoiceModel.id.desc()).limit(limit + 1)
        async with self._uow.read() as session:
            rows = list((await session.scalars(query)).all())
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].issued_at, rows[-1].id) if more else None

    async def get_invoice(self, user_id: UUID, invoice_id: UUID) -> InvoiceModel:
        """One of the user's invoices with its lines. Raises InvoiceNotFound (also for others')."""
        async with self._uow.read() as session:
            invoice = await session.scalar(
                select(InvoiceModel).where(InvoiceModel.id == invoice_id, InvoiceModel.user_id == user_id)
            )
        if invoice is None:
            raise InvoiceNotFound()
        return invoice

    async def _issue(
        self,
        tx: Transaction,
        subscription: SubscriptionModel,
        plan: Plan,
        kind: str,
        change: int,
        lines: list[_Line],
    ) -> InvoiceModel:
        now = self._clock.now()
        invoice = InvoiceModel(
            id=new_id(),
            number=await _next_invoice_number(tx.session, now.year),
            user_id=subscription.user_id,
            subscription_id=subscription.id,
            plan=plan.code,
            kind=kind,
            change=change,
            period_start=subscription.current_period_start,
            period_end=subscription.current_period_end,
            total_cents=sum(line.amount_cents for line in lines),
            currency=plan.currency,
            status="issued",
            issued_at=now,
        )
        invoice.lines = [
            InvoiceLineModel(
                id=new_id(),
                position=position,
                description=line.description,
                quantity=1,
                unit_cents=line.amount_cents,
                amount_cents=line.amount_cents,
            )
            for position, line in enumerate(lines, start=1)
        ]
        tx.session.add(invoice)
        await tx.session.flush()
        await tx.record(
            InvoiceIssued(
                invoice_id=invoice.id,
                user_id=invoice.user_id,
                total_cents=invoice.total_cents,
                currency=invoice.currency,
                number=invoice.number,
                plan=invoice.plan,
            )
        )
        return invoice

    # -- period close --------------------------------------------------------

    async def close_period(self, at: datetime | None = None) -> ClosedPeriods:
        """Renew every subscription whose period ended by `at` (default now).

        Each renewal moves the subscription to the next period and, on a paid plan,
        issues that period's invoice, in one transaction per subscription and period.
        A subscription several periods behind is renewed period by period. Running
        it twice, or on two replicas at once, renews and invoices each period once:
        the period move is a compare-and-set on the subscription's version, and the
        invoice's unique (subscription, period, kind) key backs it up.
        """
        at = at or self._clock.now()
        renewed = 0
        invoices: list[UUID] = []
        while True:
            async with self._uow.read() as session:
                due = list(
                    (
                        await session.execute(
                            select(SubscriptionModel.id)
                            .where(SubscriptionModel.current_period_end <= at)
                            .order_by(SubscriptionModel.current_period_end, SubscriptionModel.id)
                            .limit(500)
                        )
                    ).scalars()
                )
            progressed = False
            for subscription_id in due:
                outcome = await self._renew(subscription_id, at)
                if outcome is not None:
                    progressed = True
                    renewed += 1
                    if outcome.invoice_id is not None:
                        invoices.append(outcome.invoice_id)
            if not due or not progressed:
                return ClosedPeriods(renewed=renewed, invoices=invoices)

    async def _renew(self, subscription_id: UUID, at: datetime) -> _Renewal | None:
        try:
            async with self._uow.transaction() as tx:
                subscription = await tx.session.get(
                    SubscriptionModel, subscription_id, populate_existing=True
                )
                if subscription is None or subscription.current_period_end > at:
                    return None  # another run renewed it first
                start, end = period_after(subscription.current_period_end)
                subscription.current_period_start = start
                subscription.current_period_end = end
                subscription.updated_at = self._clock.now()
                await tx.session.flush()  # compare-and-set on `version`
                plan = PLANS[subscription.plan]
                invoice_id = None
                if plan.is_paid:
                    line = _Line(f"{plan.name} plan, {_span(start, end)}", plan.monthly_price_cents)
                    invoice = await self._issue(tx, subscription, plan, "renewal", 0, [line])
                    invoice_id = invoice.id
                await tx.record(_changed(subscription, previous_plan=plan.code))
        except (StaleDataError, IntegrityError):  # a concurrent run renewed this period
            return None
        return _Renewal(invoice_id)

    # -- usage (metered from project events) ---------------------------------

    async def usage(self, user_id: UUID) -> Usage:
        """Usage in the caller's current period with their plan's limits.

        `projects`: projects they own now; `tasks_created`: tasks created this period
        in projects they own; `members`: the largest member count (owner excluded)
        among their projects — what `members_per_project` limits.
        """
        subscription = await self.get_subscription(user_id)
        start, end = subscription.current_period_start, subscription.current_period_end
        owned = select(ProjectUsageModel.project_id).where(
            ProjectUsageModel.owner_id == user_id, ProjectUsageModel.deleted_at.is_(None)
        )
        async with self._uow.read() as session:
            projects = await session.scalar(select(func.count()).select_from(owned.subquery()))
            tasks = await session.scalar(
                select(func.count())
                .select_from(TaskUsageModel)
                .join(ProjectUsageModel, ProjectUsageModel.project_id == TaskUsageModel.project_id)
                .where(
                    ProjectUsageModel.owner_id == user_id,
                    TaskUsageModel.created_at >= start,
                    TaskUsageModel.created_at < end,
                )
            )
            per_project = (
                select(func.count().label("members"))
                .select_from(MemberUsageModel)
                .where(MemberUsageModel.project_id.in_(owned))
                .group_by(MemberUsageModel.project_id)
                .subquery()
            )
            members = await session.scalar(select(func.max(per_project.c.members)))
        plan = PLANS[subscription.plan]
        return Usage(
            plan=plan.code,
            limits=plan.limits,
            period_start=start,
            period_end=end,
            projects=int(projects or 0),
            tasks_created=int(tasks or 0),
            members=int(members or 0),
        )

    async def meter_project_created(self, project_id: UUID, owner_id: UUID, at: datetime) -> None:
        async with self._uow.transaction() as tx:
            await _insert_ignore(
                tx.session,
                ProjectUsageModel,
                {"project_id": project_id, "owner_id": owner_id, "created_at": at},
            )

    async def meter_project_deleted(self, project_id: UUID, owner_id: UUID, at: datetime) -> None:
        async with self._uow.transaction() as tx:
            await _insert_ignore(
                tx.session,
                ProjectUsageModel,
                {"project_id": project_id, "owner_id": owner_id, "created_at": at},
            )
            await tx.session.execute(
                update(ProjectUsageModel)
                .where(ProjectUsageModel.project_id == project_id, ProjectUsageModel.deleted_at.is_(None))
                .values(deleted_at=at)
            )

    async def meter_member_added(self, project_id: UUID, user_id: UUID) -> None:
        async with self._uow.transaction() as tx:
            await _insert_ignore(tx.session, MemberUsageModel, {"project_id": project_id, "user_id": user_id})

    async def meter_member_removed(self, project_id: UUID, user_id: UUID) -> None:
        async with self._uow.transaction() as tx:
            row = await tx.session.get(MemberUsageModel, (project_id, user_id))
            if row is not None:
                await tx.session.delete(row)

    async def meter_task_created(self, task_id: UUID, project_id: UUID, at: datetime) -> None:
        async with self._uow.transaction() as tx:
            await _insert_ignore(
                tx.session, TaskUsageModel, {"task_id": task_id, "project_id": project_id, "created_at": at}
            )


@dataclass(frozen=True)
class _Renewal:
    invoice_id: UUID | None


def _changed(subscription: SubscriptionModel, *, previous_plan: str | None) -> SubscriptionChanged:
    return SubscriptionChanged(
        user_id=subscription.user_id,
        plan=subscription.plan,
        limits=PLANS[subscription.plan].limits,
        period_end=subscription.current_period_end,
        subscription_id=subscription.id,
        previous_plan=previous_plan,
        period_start=subscription.current_period_start,
    )


def _span(start: datetime, end: datetime) -> str:
    """`2026-11-15 to 2026-11-30`: the inclusive days from `start` to the exclusive `end`."""
    return f"{start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d}"


async def _next_invoice_number(session: AsyncSession, year: int) -> str:
    """`INV-<year>-<n>`, sequential per year. The counter row is locked until commit,
    so concurrent issuers queue instead of sharing a number; a rolled-back invoice
    gives its number back."""
    await _insert_ignore(session, InvoiceCounterModel, {"year": year, "last": 0})
    last = await session.scalar(
        update(InvoiceCounterModel)
        .where(InvoiceCounterModel.year == year)
        .values(last=InvoiceCounterModel.last + 1)
        .returning(InvoiceCounterModel.last)
    )
    return f"INV-{year}-{last:06d}"


async def _insert_ignore(session: AsyncSession, model: type[Any], values: dict[str, Any]) -> None:
    """INSERT, doing nothing when the primary/unique key exists (redelivered facts).

    A Core statement on the model's table: the ORM's bulk INSERT path adds nothing here."""
    await session.execute(insert_ignoring(session, model), values)


def provide_billing_service(module: ModuleRuntime) -> BillingService:
    return BillingService(module.uow, module.clock)
