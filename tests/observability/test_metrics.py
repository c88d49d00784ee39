"""/metrics after a scenario: every family the dashboards and alerts use, with sane values.

Scraped from the metrics listener (CTH_METRICS_PORT), as Prometheus does."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloudtaskhub.events.heartbeat import publish_heartbeat_once
from cloudtaskhub.testing import ModuleHarness
from entrypoints.registry import ALL_MODULES
from modules.auth.contracts import UserRegistered
from modules.project.contracts import TaskAssigned
from tests.kernel import probe as probe_module
from tests.observability.scenario import PATCH_ROUTE, assign_a_task, assigned_type, consumers_of

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [*ALL_MODULES, probe_module.probe],
        database_url=database_url,
        data_dir=str(tmp_path),
        handler_max_attempts=2,
        metrics=True,
        environ={"CTH_ANALYTICS_METRICS_REFRESH_SECONDS": "0.05"},
    ) as h:
        yield h


@pytest.fixture
def failing_probe(harness: ModuleHarness) -> Iterator[None]:
    harness.expect_dead_letter(UserRegistered, consumer="probe")
    probe_module.failures.remaining = 2
    yield
    probe_module.failures.remaining = 0


async def scrape(harness: ModuleHarness) -> Samples:
    response = await harness.scrape()
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def test_http_requests_are_counted_and_timed_by_route_template(harness: ModuleHarness) -> None:
    before = await scrape(harness)

    await assign_a_task(harness)

    after = await scrape(harness)
    route = {"method": "PATCH", "route": PATCH_ROUTE}
    assert delta(before, after, "cloudtaskhub_http_requests_total", **route, status="200") == 1
    assert delta(before, after, "cloudtaskhub_http_request_duration_seconds_count", **route) == 1
    assert 0 < delta(before, after, "cloudtaskhub_http_request_duration_seconds_sum", **route) < 30


async def test_http_metric_labels_hold_no_raw_paths_or_ids(harness: ModuleHarness) -> None:
    await assign_a_task(harness)
    await harness.get("/api/v1/no-such-thing/0190a6c4-0000-7000-8000-000000000000")

    after = await scrape(harness)

    http = [dict(labels) for (name, labels) in after if name.startswith("cloudtaskhub_http_")]
    assert {"method": "GET", "route": "<unmatched>", "status": "404"} in http
    assert not [labels for labels in http if UUID_RE.search(labels.get("route", ""))]
    assert not [labels for labels in http if labels.get("route") in {"/metrics", "/health/ready"}]


async def test_published_and_handled_events_are_counted_per_module_and_type(harness: ModuleHarness) -> None:
    before = await scrape(harness)

    await assign_a_task(harness)

    after = await scrape(harness)
    type_ = assigned_type()
    assert delta(before, after, "cloudtaskhub_events_published_total", module="project", type=type_) == 1
    for consumer in consumers_of(TaskAssigned, ALL_MODULES):
        labels = {"module": consumer, "type": type_}
        assert delta(before, after, "cloudtaskhub_events_handled_total", **labels) == 1
        assert delta(before, after, "cloudtaskhub_event_handler_seconds_count", **labels) == 1


async def test_outbox_gauges_show_an_empty_backlog_once_the_relay_caught_up(harness: ModuleHarness) -> None:
    await assign_a_task(harness)

    after = await scrape(harness)

    for module in ALL_MODULES:
        assert value(after, "cloudtaskhub_outbox_backlog", module=module.name) == 0
        assert ("cloudtaskhub_outbox_oldest_pending_seconds", frozenset({("module", module.name)})) in after


@pytest.mark.usefixtures("failing_probe")
async def test_a_failing_handler_is_counted_as_failed_retried_and_dead_lettered(
    harness: ModuleHarness,
) -> None:
    before = await scrape(harness)
    bob = harness.user("bob@example.com")

    await harness.publish(UserRegistered(user_id=bob.id, email=bob.email, display_name="Bob"))

    after = await scrape(harness)
    labels = {"module": "probe", "type": str(UserRegistered.__event_type__)}
    assert delta(before, after, "cloudtaskhub_events_failed_total", **labels) == 2
    assert delta(before, after, "cloudtaskhub_events_retried_total", **labels) == 1
    assert delta(before, after, "cloudtaskhub_events_dead_lettered_total", **labels) == 1
    assert delta(before, after, "cloudtaskhub_events_handled_total", **labels) == 0


@pytest.mark.usefixtures("failing_probe")
async def test_unreplayed_dead_letters_are_a_gauge_the_heartbeat_refreshes(harness: ModuleHarness) -> None:
    bob = harness.user("bob@example.com")
    await harness.publish(UserRegistered(user_id=bob.id, email=bob.email, display_name="Bob"))

    await publish_heartbeat_once(harness.runtime)

    assert value(await scrape(harness), "cloudtaskhub_dead_letters", module="probe") == 1


async def test_business_counters_from_analytics_are_exported(harness: ModuleHarness) -> None:
    await assign_a_task(harness)

    names = {name for name, _ in await scrape(harness)}

    assert {
        "cloudtaskhub_business_tasks_created_total",
        "cloudtaskhub_business_tasks_completed_total",
        "cloudtaskhub_business_active_users",
    } <= names
