"""Project fixtures: the project module alone, fed users as if auth had published them."""

from __future__ import annotations

import pytest

from cloudtaskhub.testing import ModuleHarness, TestUser
from modules.project import module as project
from tests.modules.project.factories import create_project, registered


@pytest.fixture
async def harness(database_url, tmp_path):  # type: ignore[no-untyped-def]
    async with ModuleHarness([project], database_url=database_url, data_dir=str(tmp_path)) as h:
        yield h


@pytest.fixture
async def alice(harness: ModuleHarness) -> TestUser:
    return await registered(harness, "alice@example.com", "Alice")


@pytest.fixture
async def bob(harness: ModuleHarness) -> TestUser:
    return await registered(harness, "bob@example.com", "Bob")


@pytest.fixture
async def carol(harness: ModuleHarness) -> TestUser:
    return await registered(harness, "carol@example.com", "Carol")


@pytest.fixture
async def apollo(harness: ModuleHarness, alice: TestUser) -> dict:  # type: ignore[type-arg]
    """Alice's project."""
    return await create_project(harness, alice, "Apollo")
