"""Faults in the split shape (six processes, Kafka via Tansu, Traefik): a stalled
broker and SIGKILLed module processes lose and double nothing.

The test broker keeps its log in memory, so stopping it for real would lose what
it holds and test Tansu rather than us. "Broker down" is simulated honestly with
SIGSTOP: it stops answering, TCP connections hang, producers and consumers time
out — then SIGCONT, 20 s later (the full run).
"""

from __future__ import annotations

import os

import pytest

from entrypoints.split import Child, SplitStack
from tests.reliability.support import (
    FAULT_TEST_TIMEOUT,
    Api,
    Load,
    Team,
    advancing,
    eventually,
    restart_module,
    run_broker_pause,
)

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.timeout(FAULT_TEST_TIMEOUT)]

FULL = os.environ.get("CTH_RELIABILITY_FULL") == "1"


def _broker(stack: SplitStack) -> Child:
    return next(c for c in stack.children if c.name == "broker")


def test_a_stalled_broker_loses_and_doubles_nothing(split_stack: SplitStack) -> None:
    run_broker_pause(split_stack.url, _broker(split_stack), tasks=100, pause=8.0)


@pytest.mark.slow
def test_a_broker_stalled_for_20s_under_500_tasks_loses_and_doubles_nothing(split_stack: SplitStack) -> None:
    run_broker_pause(split_stack.url, _broker(split_stack), tasks=500, pause=20.0)


def test_consumers_sigkilled_mid_stream_and_restarted_lose_and_double_nothing(
    split_stack: SplitStack,
) -> None:
    tasks = 400 if FULL else 150
    api = Api(split_stack.url)
    team = Team.form(api)

    with Load(split_stack.url, lambda n, o, http: team.create_task(n, o, http), total=tasks) as load:
        advancing(lambda: load.issued, tasks // 3, "a third of the tasks")
        for module in ("notification", "analytics", "billing"):
            split_stack.servers[module].kill()
        advancing(lambda: load.issued, 2 * tasks // 3, "two thirds of the tasks")
        for module in ("notification", "analytics", "billing"):
            restart_module(split_stack, module)
        load.wait()
    print(f"consumers killed and restarted; {load.outcomes.summary()}")

    assert load.outcomes.dirty == []
    assert load.outcomes.ok == tasks
    assert team.verify_exactly_once("consumers killed")["tasks committed"] == tasks
    api.close()


def test_the_publisher_sigkilled_mid_stream_and_restarted_loses_and_doubles_nothing(
    split_stack: SplitStack,
) -> None:
    tasks = 400 if FULL else 150
    api = Api(split_stack.url)
    team = Team.form(api)

    with Load(split_stack.url, lambda n, o, http: team.create_task(n, o, http)) as load:
        advancing(lambda: load.outcomes.ok, tasks // 3, "a third of the tasks")
        split_stack.servers["project"].kill()
        killed_at = load.issued
        eventually(lambda: load.issued >= killed_at + 20, "requests while the project process is down", 60)
        restart_module(split_stack, "project")
        advancing(lambda: load.outcomes.ok, tasks, "the rest of the tasks after the restart")
    print(f"project process killed and restarted; {load.outcomes.summary()}")

    assert load.outcomes.dirty == []
    assert sum(load.outcomes.clean.values()) > 0  # requests did reach the dead process's route
    figures = team.verify_exactly_once("publisher killed")
    # Requests Traefik answered 502/504 or that were cut off may have committed before the
    # kill; every 2xx must have, and nothing else.
    load.outcomes.assert_committed(figures["tasks committed"])
    api.close()
