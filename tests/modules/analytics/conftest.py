"""Fixtures for analytics tests: the module alone, fed events as their publishers would."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloudtaskhub.testing import ModuleHarness
from modules.analytics import module as analytics

ENVIRON = {"CTH_ANALYTICS_METRICS_REFRESH_SECONDS": "0.05"}


@pytest.fixture
async def harness(database_url: str, tmp_path) -> AsyncIterator[ModuleHarness]:  # type: ignore[no-untyped-def]
    async with ModuleHarness(
        [analytics], database_url=database_url, data_dir=str(tmp_path), environ=ENVIRON, metrics=True
    ) as h:
        yield h
