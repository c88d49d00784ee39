"""The same client scenario passes against every shape: a client cannot tell them apart."""

from __future__ import annotations

import pytest

from entrypoints.split import SplitStack
from tests.e2e.operator import all_in_one_directory, all_in_one_environment, billing_period_closer
from tests.e2e.scenario import Scenario, Shape

#: Processes start for real and the scenario makes some 150 requests (the task quota's
#: 100 among them): more than the default 120 s budget on a busy machine.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_the_scenario_passes_against_all_in_one_on_the_in_process_bus(all_in_one_memory, tmp_path):  # type: ignore[no-untyped-def]
    close = billing_period_closer(all_in_one_environment(all_in_one_directory(tmp_path)))

    Scenario(all_in_one_memory, Shape(split=False, bus="memory"), close).run()


@pytest.mark.kafka
def test_the_scenario_passes_against_all_in_one_on_kafka(all_in_one_kafka, tmp_path):  # type: ignore[no-untyped-def]
    close = billing_period_closer(all_in_one_environment(all_in_one_directory(tmp_path)))

    Scenario(all_in_one_kafka, Shape(split=False, bus="kafka"), close).run()


@pytest.mark.kafka
def test_the_scenario_passes_against_six_processes_behind_traefik(split_stack: SplitStack):  # type: ignore[no-untyped-def]
    close = billing_period_closer(split_stack.module_environment("billing"))

    Scenario(split_stack.url, Shape(split=True, bus="kafka"), close).run()

    assert len(split_stack.servers) == 6
