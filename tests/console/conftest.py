"""Browser tests of the console: a real server in a subprocess, driven by headless
Chromium (Debian's `chromium`, never a downloaded browser) through Playwright.

`make console-tests` installs both. The tests skip, saying why, only when no
Chromium binary or no Playwright package is present.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.split import free_port, grant_admin, start_server, wait_ready

CHROMIUM = os.environ.get("CTH_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
#: Where the run saves screenshots; `make console-screenshots` points it at the committed copies.
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR") or ROOT / "test-artifacts" / "console")
PASSWORD = "correct horse battery"
ADMIN = "admin@example.com"
#: Quick heartbeats and relay polls, so the status and the read models settle fast.
FAST = {
    "CTH_HEARTBEAT_INTERVAL_SECONDS": "1",
    "CTH_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
    "CTH_LOG_FORMAT": "text",
    "CTH_DB_BOOTSTRAP": "create",
    "CTH_CONSOLE_GRAFANA_URL": "http://127.0.0.1:3000/",
    "CTH_CONSOLE_JAEGER_URL": "http://127.0.0.1:16686/",
    "CTH_CONSOLE_PROMETHEUS_URL": "http://127.0.0.1:9090/",
}

try:
    from playwright import sync_api
except ImportError:  # pragma: no cover - the console-tests extra is not installed
    sync_api = None

SKIP_REASON = (
    f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or run `make console-tests`)"
    if not Path(CHROMIUM).exists()
    else "Playwright not installed: `pip install -e '.[console-tests]'` (or run `make console-tests`)"
    if sync_api is None
    else ""
)
if sync_api is not None:
    expect = sync_api.expect
    expect.set_options(timeout=20_000)  # reads through events settle eventually, never instantly


def requires_a_browser() -> None:
    """Skip, saying what to install, when Chromium or Playwright is missing."""
    if SKIP_REASON:
        pytest.skip(SKIP_REASON)


@pytest.fixture(scope="module")
def all_in_one(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`cloudtaskhub serve --modules all`: in-process bus, SQLite in a temporary folder."""
    requires_a_browser()
    run_dir = tmp_path_factory.mktemp("console")
    port = free_port()
    env = {
        "CTH_BUS": "memory",
        "CTH_DATA_DIR": str(run_dir),
        "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{run_dir / 'cloudtaskhub.db'}",
        **FAST,
    }
    server = start_server("all", port, env, run_dir / "logs", name="all-in-one")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(server, url, timeout=60)
        register(url, ADMIN, "Admin")
        grant_admin(ADMIN, env)  # as an operator does on the server
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope: the sync API runs its own event loop, which must be gone before
    # another module's asyncio tests start.
    requires_a_browser()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Console:
    """One signed-in (or not yet) user's browser tab on the console."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def open(self, route: str = "") -> Console:
        self.page.goto(f"{self.base_url}/console{route}")
        return self

    def sign_in(self, email: str, password: str = PASSWORD) -> Console:
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("button", name="Sign out")).to_be_visible()
        return self

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def security_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e or "Refused to" in e]


@pytest.fixture
def open_console(browser: Any) -> Iterator[Callable[..., Console]]:
    """A new browser context (its own sessionStorage) per call: one per user."""
    contexts: list[Any] = []

    def open_(base_url: str, **context_options: Any) -> Console:
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 860}, **context_options})
        contexts.append(context)
        return Console(context.new_page(), base_url).open()

    yield open_
    for context in contexts:
        context.close()


def register(base_url: str, email: str, display_name: str) -> dict[str, Any]:
    response = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": display_name},
        timeout=10,
    )
    assert response.status_code in (201, 409), response.text
    return response.json()


def token(base_url: str, email: str) -> str:
    response = httpx.post(
        f"{base_url}/api/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=10
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
