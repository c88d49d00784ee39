"""notification — In-app notifications, live stream and signed webhooks (being built; see its issue)."""

from cloudtaskhub.module import Module

module = Module(
    name="notification",
    description="In-app notifications, live stream and signed webhooks",
    path_prefixes=("/api/v1/notifications",),
)
