"""`cloudtaskhub dev split`: one command starts the split shape, prints its URL,
and Ctrl-C stops every process it started."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import FAST

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

CLI = str(Path(sys.executable).parent / "cloudtaskhub")


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def read_url(launcher: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert launcher.stdout is not None
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        if match:
            return match[1]
        if not line and launcher.poll() is not None:
            break
    raise AssertionError("the launcher printed no URL")


def read_processes(launcher: subprocess.Popen[str], count: int) -> dict[str, tuple[str, str]]:
    """The launcher's `module  app-url  metrics metrics-url/metrics  pid N` lines."""
    assert launcher.stdout is not None
    found: dict[str, tuple[str, str]] = {}
    while len(found) < count:
        line = launcher.stdout.readline()
        assert line, "the launcher did not list every process"
        match = re.match(r"\s+(\w+)\s+(http://\S+)\s+metrics (http://\S+)\s+pid \d+", line)
        if match:
            found[match[1]] = (match[2], match[3])
    return found


def test_dev_split_serves_through_traefik_and_ctrl_c_stops_every_process(tmp_path: Path) -> None:
    launcher = subprocess.Popen(
        [CLI, "dev", "split", "--port", "0", "--run-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **FAST},
    )
    started: set[int] = set()
    try:
        url = read_url(launcher, timeout=120)
        processes = read_processes(launcher, 6)
        started = children_of(launcher.pid)
        status = httpx.get(f"{url}/api/v1/status", timeout=10)
        # Each process's metrics on its own listener; its app port and Traefik have none.
        scraped = {module: httpx.get(metrics, timeout=10) for module, (_, metrics) in processes.items()}
        on_app_ports = {httpx.get(f"{app}/metrics", timeout=10).status_code for app, _ in processes.values()}
        at_the_edge = httpx.get(f"{url}/metrics", timeout=10).status_code

        launcher.send_signal(signal.SIGINT)
        launcher.wait(timeout=90)

        assert status.status_code == 200
        assert {module: r.status_code for module, r in scraped.items()} == dict.fromkeys(processes, 200)
        assert all("cloudtaskhub_outbox_backlog" in r.text for r in scraped.values())
        assert on_app_ports == {404}
        assert at_the_edge == 404
        assert len(started) == 8  # broker, six modules, Traefik
        assert launcher.returncode == 0
        assert [pid for pid in started if running(pid)] == []
    finally:
        for pid in [launcher.pid, *started]:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        launcher.wait()
