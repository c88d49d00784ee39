"""analytics — Projections built from every event (being built; see its issue)."""

from cloudtaskhub.module import Module

module = Module(
    name="analytics",
    description="Projections built from every event",
    path_prefixes=("/api/v1/analytics",),
)
