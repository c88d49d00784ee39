"""billing — Plans, subscriptions, usage and invoices (being built; see its issue)."""

from cloudtaskhub.module import Module

module = Module(
    name="billing",
    description="Plans, subscriptions, usage and invoices",
    path_prefixes=("/api/v1/billing",),
)
