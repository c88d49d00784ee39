"""Prometheus business metrics on /metrics come from the projections."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from cloudtaskhub.testing import ModuleHarness
from tests.modules.analytics.factories import create_project, create_task, move


async def _business_metrics(harness: ModuleHarness) -> dict[str, float]:
    text = (await harness.scrape()).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("cloudtaskhub_business_")
    }


async def test_metrics_show_tasks_created_completed_and_active_users(harness):  # type: ignore[no-untyped-def]
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    project = await create_project(harness, alice.id)
    tasks = [await create_task(harness, project, alice.id) for _ in range(3)]
    await move(harness, tasks[0], project, "todo", "done", bob.id)
    expected = {
        "cloudtaskhub_business_tasks_created_total": 3.0,
        "cloudtaskhub_business_tasks_completed_total": 1.0,
        "cloudtaskhub_business_active_users": 2.0,
    }

    # The gauges are refreshed in the background (every 0.05 s here): wait for it.
    deadline = asyncio.get_running_loop().time() + 5
    metrics = await _business_metrics(harness)
    while metrics != expected and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
        metrics = await _business_metrics(harness)

    assert metrics == expected
