"""Tables owned by billing: subscriptions, invoices, the invoice-number counter,
and the usage read model fed by project events."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloudtaskhub.db import declarative_base_for

BillingBase = declarative_base_for("billing")


class SubscriptionModel(BillingBase):
    """A user's plan and current period. One per user; `version` counts changes."""

    __tablename__ = "billing_subscriptions"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(unique=True)
    plan: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    current_period_start: Mapped[datetime]
    current_period_end: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    version: Mapped[int] = mapped_column(default=1)

    # Every UPDATE checks and bumps `version`: concurrent plan changes and period
    # closes on other replicas fail with StaleDataError instead of overwriting.
    __mapper_args__ = {"version_id_col": version}


class InvoiceModel(BillingBase):
    """An issued invoice. Immutable: rows are inserted, never updated.

    `kind` is `upgrade` or `renewal`; `change` is the subscription version whose plan
    change it bills (0 for renewals). The unique (subscription, period, kind, change)
    key is what makes a period's renewal invoice exactly-once across runs and replicas.
    """

    __tablename__ = "billing_invoices"
    __table_args__ = (
        UniqueConstraint(
            "subscription_id", "period_start", "kind", "change", name="uq_billing_invoices_once"
        ),
        Index("ix_billing_invoices_user_issued", "user_id", "issued_at", "id"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[UUID]
    subscription_id: Mapped[UUID]
    plan: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    change: Mapped[int] = mapped_column(default=0)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    total_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="issued")
    issued_at: Mapped[datetime]

    lines: Mapped[list[InvoiceLineModel]] = relationship(
        back_populates="invoice", order_by="InvoiceLineModel.position", lazy="selectin"
    )


class InvoiceLineModel(BillingBase):
    __tablename__ = "billing_invoice_lines"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    invoice_id: Mapped[UUID] = mapped_column(ForeignKey("billing_invoices.id"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int]
    unit_cents: Mapped[int]
    amount_cents: Mapped[int]

    invoice: Mapped[InvoiceModel] = relationship(back_populates="lines")


class InvoiceCounterModel(BillingBase):
    """The last invoice number handed out per year (numbers are sequential per year)."""

    __tablename__ = "billing_invoice_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class ProjectUsageModel(BillingBase):
    """A project as billing knows it: whose plan it counts against."""

    __tablename__ = "billing_projects"

    project_id: Mapped[UUID] = mapped_column(primary_key=True)
    owner_id: Mapped[UUID] = mapped_column(index=True)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class MemberUsageModel(BillingBase):
    """A (non-owner) member of a project."""

    __tablename__ = "billing_project_members"

    project_id: Mapped[UUID] = mapped_column(primary_key=True)
    user_id: Mapped[UUID] = mapped_column(primary_key=True)


class TaskUsageModel(BillingBase):
    """A task creation, metered into the period its `created_at` falls in.

    Kept by project id (not owner) so a task metered before its project is known
    still counts once `project_created` arrives: the events have different keys and
    may arrive in any order.
    """

    __tablename__ = "billing_tasks"
    __table_args__ = (Index("ix_billing_tasks_project_created", "project_id", "created_at"),)

    task_id: Mapped[UUID] = mapped_column(primary_key=True)
    project_id: Mapped[UUID]
    created_at: Mapped[datetime]


class InvoiceIsImmutable(RuntimeError):
    """Raised when code tries to change an issued invoice."""


@event.listens_for(InvoiceModel, "before_update")
@event.listens_for(InvoiceLineModel, "before_update")
def _refuse_invoice_changes(*_: object) -> None:
    raise InvoiceIsImmutable("issued invoices are immutable")
