"""The same client scenario passes against every shape: a client cannot tell them apart."""

from __future__ import annotations

import pytest

from entrypoints.split import SplitStack
from tests.e2e.scenario import Scenario, Shape

pytestmark = pytest.mark.e2e


def test_the_scenario_passes_against_all_in_one_on_the_in_process_bus(all_in_one_memory):  # type: ignore[no-untyped-def]
    Scenario(all_in_one_memory, Shape(split=False, bus="memory")).run()


@pytest.mark.kafka
def test_the_scenario_passes_against_all_in_one_on_kafka(all_in_one_kafka):  # type: ignore[no-untyped-def]
    Scenario(all_in_one_kafka, Shape(split=False, bus="kafka")).run()


@pytest.mark.kafka
def test_the_scenario_passes_against_six_processes_behind_traefik(split_stack: SplitStack):  # type: ignore[no-untyped-def]
    Scenario(split_stack.url, Shape(split=True, bus="kafka")).run()

    assert len(split_stack.servers) == 6
