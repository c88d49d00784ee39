"""billing — plans, subscriptions, usage and invoices.

Purpose: every user holds one subscription to a plan (`free`, `pro`, `team`;
prices and limits in `plans.py`, the one place they are defined). Changing plan
takes effect at once and is announced with the new limits (project enforces
them); an upgrade issues an invoice prorated by the days left in the period.
Period close (`cloudtaskhub billing close-period`, and a background task)
renews subscriptions and invoices paid plans exactly once per period. Usage is
metered from project events into billing's own read model.

Publishes: `billing.subscription_changed`, `billing.invoice_issued`.
Consumes: `auth.user_registered` (free subscription), `project.project_created`,
`project.project_deleted`, `project.member_added`, `project.member_removed`,
`project.task_created` (usage).

Terms: *period* — a calendar month in UTC; *proration* — price × days left ÷
days in period, rounded half-up to the cent; *renewal* — moving a subscription
to its next period (and invoicing it on a paid plan). Money is integer cents;
invoices are immutable once issued.
"""

from pathlib import Path

from cloudtaskhub.module import BackgroundTask, Module
from modules.billing.api import BillingController
from modules.billing.contracts import InvoiceIssued, SubscriptionChanged
from modules.billing.handlers import subscriptions
from modules.billing.models import BillingBase
from modules.billing.settings import BillingSettings
from modules.billing.tasks import billing_cli, close_periods_periodically

module = Module(
    name="billing",
    description="Plans, subscriptions, usage and invoices",
    route_handlers=[BillingController],
    path_prefixes=("/api/v1/billing",),
    metadata=BillingBase.metadata,
    publishes=[SubscriptionChanged, InvoiceIssued],
    subscriptions=subscriptions,
    background_tasks=[BackgroundTask("close-periods", close_periods_periodically)],
    settings=BillingSettings,
    cli=billing_cli,
    migrations=Path(__file__).parent / "migrations",
)
