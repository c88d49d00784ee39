"""analytics — figures about projects, people and the whole system, built from events.

Purpose: keep an append-only log of every event it consumes (exactly once, via
the inbox) and projections derived from it — per project: tasks by status, tasks
created and completed per day, average lead time, overdue tasks; per user: tasks
completed in the last 7 days, open tasks assigned, projects; overall: users,
projects, tasks, events in the last hour — served on `/api/v1/analytics` and as
Prometheus business metrics. `cloudtaskhub analytics rebuild` recomputes the
projections from the log.

Publishes: nothing. Consumes: `auth.user_registered`; `project.project_created`,
`project_deleted`, `member_added`, `member_removed`, `task_created`,
`task_assigned`, `task_status_changed`, `task_deleted`;
`billing.subscription_changed`, `invoice_issued`;
`notification.notification_created`, `notification_read`.

Terms: *log* — `analytics_events`, the source of truth, never changed;
*projection* — a table computed from the log, safe to drop and rebuild;
*completion* — one move of a task to `done` (a reopened and re-done task
completes twice); *lead time* — from a task's creation to its (last) move to
done; *overdue* — not done, due date before today (UTC, by the clock);
*active user* — the actor of at least one event in the last 7 days;
*series* — `created_per_day`/`completed_per_day` list each of the last 30 days
(UTC, today last) as `{date, count}`, days without any included as 0; tasks
deleted later still count where they were created/completed (history), while
`tasks_by_status`, lead time, overdue and totals count live tasks only.
All times are the publisher's clock (the envelope `time`).
"""

from pathlib import Path

from cloudtaskhub.module import BackgroundTask, Module
from modules.analytics.api import AnalyticsController
from modules.analytics.cli import analytics_cli
from modules.analytics.config import AnalyticsSettings
from modules.analytics.handlers import subscriptions
from modules.analytics.metrics import refresh_business_metrics_forever
from modules.analytics.models import AnalyticsBase

module = Module(
    name="analytics",
    description="Projections built from every event",
    route_handlers=[AnalyticsController],
    path_prefixes=("/api/v1/analytics",),
    metadata=AnalyticsBase.metadata,
    subscriptions=subscriptions,
    background_tasks=[BackgroundTask("business-metrics", refresh_business_metrics_forever)],
    settings=AnalyticsSettings,
    cli=analytics_cli,
    migrations=Path(__file__).parent / "migrations",
)
