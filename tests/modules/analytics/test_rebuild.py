"""The log is the truth: rebuilding the projections and redelivering events change nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

from click.testing import CliRunner

from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.testing import ModuleHarness
from entrypoints.cli import main
from modules.analytics.service import provide_analytics_service
from modules.auth.contracts import UserRegistered
from modules.project.contracts import (
    MemberAdded,
    ProjectCreated,
    TaskAssigned,
    TaskCreated,
    TaskDeleted,
    TaskStatusChanged,
)
from tests.modules.analytics.factories import new_id


async def _busy_history(harness: ModuleHarness) -> tuple[list[Envelope], list[tuple[UUID, UUID]]]:
    """A small history; returns its envelopes and the (project, member) pairs."""
    alice, bob = harness.user("alice@example.com"), harness.user("bob@example.com")
    project, tasks = new_id(), [new_id() for _ in range(5)]
    envelopes = []

    async def publish(event: Any) -> None:
        envelopes.append(await harness.publish(event))

    for user in (alice, bob):
        await publish(UserRegistered(user_id=user.id, email=user.email, display_name="x"))
    await publish(ProjectCreated(project_id=project, owner_id=alice.id, name="Apollo"))
    await publish(MemberAdded(project_id=project, user_id=bob.id, role="member"))
    for task in tasks:
        await publish(
            TaskCreated(
                task_id=task,
                project_id=project,
                creator_id=alice.id,
                title="t",
                priority="low",
                assignee_id=bob.id,
                due_date=harness.clock.now().date(),
            )
        )
    harness.clock.advance(timedelta(days=1))
    await publish(
        TaskStatusChanged(task_id=tasks[0], project_id=project, old="todo", new="done", changed_by=bob.id)
    )
    await publish(
        TaskAssigned(task_id=tasks[1], project_id=project, assignee_id=alice.id, assigned_by=bob.id)
    )
    await publish(
        TaskStatusChanged(
            task_id=tasks[2], project_id=project, old="todo", new="in_progress", changed_by=bob.id
        )
    )
    harness.clock.advance(timedelta(days=1))
    await publish(
        TaskStatusChanged(
            task_id=tasks[2], project_id=project, old="in_progress", new="done", changed_by=bob.id
        )
    )
    await publish(TaskDeleted(task_id=tasks[3], project_id=project))
    return envelopes, [(project, alice.id), (project, bob.id)]


async def _figures(harness: ModuleHarness, members: list[tuple[UUID, UUID]]) -> dict[str, Any]:
    service = provide_analytics_service(harness.runtime.module("analytics"))
    figures: dict[str, Any] = {
        "overview": await service.overview(),
        "totals": await service.business_totals(),
    }
    for project, user in members:
        figures[f"summary {project} {user}"] = await service.project_summary(project, user)
        figures[f"me {user}"] = await service.my_activity(user)
    return figures


async def test_rebuild_gives_the_same_figures(harness):  # type: ignore[no-untyped-def]
    _, members = await _busy_history(harness)
    before = await _figures(harness, members)

    replayed = await provide_analytics_service(harness.runtime.module("analytics")).rebuild()

    assert replayed == 14
    assert await _figures(harness, members) == before


async def test_redelivering_every_event_changes_no_figure(harness):  # type: ignore[no-untyped-def]
    envelopes, members = await _busy_history(harness)
    before = await _figures(harness, members)

    for envelope in envelopes:
        await harness.deliver(envelope)

    assert await _figures(harness, members) == before


async def test_rebuild_reports_progress_to_the_end(harness):  # type: ignore[no-untyped-def]
    await _busy_history(harness)
    seen: list[tuple[int, int]] = []

    await provide_analytics_service(harness.runtime.module("analytics")).rebuild(
        progress=lambda done, total: seen.append((done, total))
    )

    assert seen[0] == (0, 14)
    assert seen[-1] == (14, 14)


async def test_rebuild_command_rebuilds_from_the_log(harness, database_url, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    _, members = await _busy_history(harness)
    before = await _figures(harness, members)
    environ = {
        "CTH_DATABASE_URL": database_url,
        "CTH_DATA_DIR": str(tmp_path),
        "CTH_DB_BOOTSTRAP": "none",
        "CTH_LOG_FORMAT": "text",
    }

    # asyncio.run inside the command needs a thread without a running loop.
    result = await asyncio.to_thread(CliRunner().invoke, main, ["analytics", "rebuild"], env=environ)

    assert result.exit_code == 0, result.output
    assert "rebuilt analytics projections from 14 events" in result.output
    assert await _figures(harness, members) == before
