"""Outbox → relay → bus → inbox, end to end on the in-process bus."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cloudtaskhub.testing import ModuleHarness
from entrypoints.cli import main
from modules.auth import module as auth
from modules.auth.contracts import UserRegistered
from tests.kernel.probe import failures, handled_under, probe, seen_emails

REGISTRATION = {"email": "ada@example.com", "password": "correct horse battery", "display_name": "Ada"}


@pytest.fixture(autouse=True)
def _reset_failures():  # type: ignore[no-untyped-def]
    failures.remaining = 0
    failures.attempts = 0
    handled_under.clear()


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([auth, probe], database_url=database_url, data_dir=str(tmp_path)) as h:
        yield h


async def test_user_registered_reaches_a_subscriber(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=REGISTRATION)

    event = await harness.expect(UserRegistered, where=lambda e: e.email == "ada@example.com")

    assert event.display_name == "Ada"
    assert await seen_emails(harness.runtime.module("probe")) == {"ada@example.com": 1}


async def test_without_an_exporter_the_handler_still_runs_in_the_callers_trace(harness):  # type: ignore[no-untyped-def]
    # No OTLP endpoint here: no span is recorded, yet the trace the caller started reaches
    # the event and its handler, under ids of the handler's own.
    trace_id, caller_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    await harness.post(
        "/api/v1/auth/register", json=REGISTRATION, headers={"traceparent": f"00-{trace_id}-{caller_span}-01"}
    )
    await harness.expect(UserRegistered, where=lambda e: e.email == "ada@example.com")

    [envelope] = [e for e in harness.bus.published if UserRegistered.matches(e.type)]
    assert envelope.traceparent is not None
    assert envelope.traceparent.split("-")[1] == trace_id
    [context] = handled_under
    assert format(context.trace_id, "032x") == trace_id
    assert context.span_id not in (0, int(caller_span, 16))
    assert not context.trace_flags.sampled


async def test_rolled_back_transaction_emits_nothing(harness):  # type: ignore[no-untyped-def]
    uow = harness.runtime.module("auth").uow

    with pytest.raises(RuntimeError):
        async with uow.transaction() as tx:
            await tx.record(
                UserRegistered(
                    user_id=harness.user("x@example.com").id, email="x@example.com", display_name="X"
                )
            )
            raise RuntimeError("abort")
    await harness.settle()

    assert harness.published(UserRegistered) == []
    assert (await harness.runtime.module("auth").outbox_status()).pending == 0


async def test_duplicate_delivery_changes_nothing(harness):  # type: ignore[no-untyped-def]
    await harness.post("/api/v1/auth/register", json=REGISTRATION)
    original = harness.bus.published[0]

    await harness.deliver(original)
    await harness.deliver(original)

    assert await seen_emails(harness.runtime.module("probe")) == {"ada@example.com": 1}


async def test_failing_handler_is_retried_then_succeeds(harness):  # type: ignore[no-untyped-def]
    harness.expect_handler_failure(UserRegistered, consumer="probe")
    failures.remaining = 2

    await harness.post("/api/v1/auth/register", json=REGISTRATION)

    assert failures.attempts == 3
    assert await seen_emails(harness.runtime.module("probe")) == {"ada@example.com": 1}


async def test_handler_failing_n_times_is_dead_lettered_then_replayable(
    harness, database_url, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    harness.expect_dead_letter(UserRegistered, consumer="probe")
    failures.remaining = 10_000

    await harness.post("/api/v1/auth/register", json=REGISTRATION)

    module = harness.runtime.module("probe")
    assert failures.attempts == harness.settings.handler_max_attempts
    assert await module.dead_letter_count() == 1
    assert await seen_emails(module) == {}

    failures.remaining = 0
    monkeypatch.setenv("CTH_DATABASE_URL", database_url)
    monkeypatch.setenv("CTH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CTH_DB_BOOTSTRAP", "create")
    result = await _cli(["dead-letters", "replay"], modules=[auth, probe])
    assert "replayed" in result.output, result.output
    assert await seen_emails(module) == {"ada@example.com": 1}
    assert await module.dead_letter_count() == 0


async def _cli(args, modules):  # type: ignore[no-untyped-def]
    """Run the CLI in a worker thread (it runs its own event loop), with `modules` as registry."""
    import asyncio

    from entrypoints import registry

    original = registry.ALL_MODULES
    registry.ALL_MODULES = tuple(modules)
    try:
        runner = CliRunner()
        return await asyncio.to_thread(
            runner.invoke, main, [*args, "--modules", ",".join(m.name for m in modules)]
        )
    finally:
        registry.ALL_MODULES = original
