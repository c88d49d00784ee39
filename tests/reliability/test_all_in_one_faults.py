"""Faults in the all-in-one shape: one process runs every module, so a crash takes the
publisher and every consumer down together, and a stalled broker stalls them all.

- On Kafka (Tansu): the broker stalled (SIGSTOP) under load, then the process SIGKILLed
  and restarted.
- On the in-process bus (SQLite, the `make run` shape): the process SIGKILLed mid-stream
  and restarted. Here the outbox is the only durable copy of an event: a row is marked
  published only once every consumer has settled it, so the restart delivers again
  whatever had not been handled, and the inboxes drop what had.
"""

from __future__ import annotations

import os

import pytest

from entrypoints.split import Child
from tests.reliability.support import (
    FAULT_TEST_TIMEOUT,
    AllInOne,
    Api,
    Load,
    Team,
    advancing,
    eventually,
    run_broker_pause,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(FAULT_TEST_TIMEOUT)]

FULL = os.environ.get("CTH_RELIABILITY_FULL") == "1"


def _kill_and_restart_under_load(app: AllInOne, tasks: int) -> None:
    api = Api(app.url)
    team = Team.form(api)

    with Load(app.url, lambda n, o, http: team.create_task(n, o, http)) as load:
        advancing(lambda: load.outcomes.ok, tasks // 3, "a third of the tasks")
        app.child.kill()
        killed_at = load.issued
        eventually(lambda: load.issued >= killed_at + 10, "requests while the process is down", timeout=60)
        app.start()
        advancing(lambda: load.outcomes.ok, tasks, "the rest of the tasks after the restart")
    print(f"all-in-one killed and restarted; {load.outcomes.summary()}")

    assert load.outcomes.dirty == []
    assert load.outcomes.clean["connection refused"] > 0  # requests did arrive while it was dead
    figures = team.verify_exactly_once("all-in-one killed")
    # A request cut off by the kill may or may not have committed; none other may be missing.
    load.outcomes.assert_committed(figures["tasks committed"])
    api.close()


def test_in_process_bus_the_process_sigkilled_mid_stream_and_restarted_loses_and_doubles_nothing(
    all_in_one: AllInOne,
) -> None:
    _kill_and_restart_under_load(all_in_one, tasks=400 if FULL else 150)


@pytest.mark.kafka
def test_on_kafka_the_process_sigkilled_mid_stream_and_restarted_loses_and_doubles_nothing(
    all_in_one_on_kafka: tuple[AllInOne, Child],
) -> None:
    app, _broker = all_in_one_on_kafka
    _kill_and_restart_under_load(app, tasks=400 if FULL else 150)


@pytest.mark.kafka
def test_on_kafka_a_stalled_broker_loses_and_doubles_nothing(
    all_in_one_on_kafka: tuple[AllInOne, Child],
) -> None:
    app, broker = all_in_one_on_kafka
    if FULL:
        run_broker_pause(app.url, broker, tasks=500, pause=20.0)
    else:
        run_broker_pause(app.url, broker, tasks=100, pause=8.0)
