"""The system view on the split shape: six module processes on Kafka behind Traefik."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.split import SplitStack, grant_admin
from tests.console.conftest import ADMIN, FAST, expect, register, requires_a_browser

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def split_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitStack]:
    requires_a_browser()
    run_dir: Path = tmp_path_factory.mktemp("console-split")
    with SplitStack(run_dir, env=FAST) as stack:
        register(stack.url, ADMIN, "Admin")
        grant_admin(ADMIN, stack.module_environment("auth"))  # as an operator does on the server
        yield stack


def test_admin_sees_six_modules_in_six_processes_on_kafka(open_console, split_stack):  # type: ignore[no-untyped-def]
    register(split_stack.url, ADMIN, "Admin")
    admin = open_console(split_stack.url).sign_in(ADMIN)

    admin.page.get_by_role("link", name="System").click()

    rows = admin.page.locator("table.modules-table tbody tr")
    expect(rows).to_have_count(6)
    expect(admin.page.locator("#system-mode")).to_have_text("Shape: split")
    expect(admin.page.locator("#system-bus")).to_have_text("bus: kafka")
    expect(admin.page.locator("#system-overview")).to_contain_text("6 modules in 6 processes")
    # Each module's operations API answered through Traefik (the chart lists no gaps).
    expect(admin.page.locator("#event-chart .legend")).to_contain_text("auth.user_registered")
    expect(admin.page.locator("#event-chart figcaption")).not_to_contain_text("Not reachable")
    admin.screenshot("system-split")
    assert admin.security_violations() == []
