"""Soak: a steady mixed load of reads and writes on loopback against one all-in-one
process (the `make run` shape: SQLite, in-process bus). Zero errors, memory that
levels off, and an outbox backlog back to zero once the load stops.

`CTH_SOAK_SECONDS` and `CTH_SOAK_RATE` (requests per second) size the run; the quick
test runs in `make test`, the 5-minute one (`slow`) in `make reliability`.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.split import Child
from tests.reliability.support import AllInOne, Api, Outcomes, Team, eventually, rss_bytes

pytestmark = pytest.mark.e2e

RATE = float(os.environ.get("CTH_SOAK_RATE", "25"))
WORKERS = 6
MB = 1024 * 1024


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Child, str]]:
    app = AllInOne(tmp_path, {"CTH_BUS": "memory", "CTH_LOG_LEVEL": "WARNING"})
    try:
        yield app.url, app.start(), app.metrics_url
    finally:
        app.stop()


class Mix:
    """Ten request kinds in turn: three writes (create, create, change status), seven reads."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.created: list[str] = []
        self.latencies: defaultdict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()

    def request(self, n: int, http: httpx.Client) -> tuple[str, Callable[[], httpx.Response]]:
        team, owner = self.team, self.team.owner.headers
        assignee = team.assignees[n % len(team.assignees)]
        project = f"/api/v1/projects/{team.project}"
        task = random.choice(self.created) if self.created else None
        kinds: list[tuple[str, Callable[[], httpx.Response]]] = [
            (
                "create task",
                lambda: http.post(
                    f"{project}/tasks", json={"title": f"Soak {n}", "assignee_id": assignee.id}, headers=owner
                ),
            ),
            (
                "list tasks (filtered)",
                lambda: http.get(f"{project}/tasks", params={"status": "todo"}, headers=owner),
            ),
            ("notifications", lambda: http.get("/api/v1/notifications", headers=assignee.headers)),
            (
                "create task",
                lambda: http.post(
                    f"{project}/tasks", json={"title": f"Soak {n}", "labels": ["soak"]}, headers=owner
                ),
            ),
            ("dashboard", lambda: http.get("/api/v1/dashboard", headers=assignee.headers)),
            (
                "analytics summary",
                lambda: http.get(f"/api/v1/analytics/projects/{team.project}/summary", headers=owner),
            ),
            (
                "change status",
                lambda: (
                    http.patch(f"/api/v1/tasks/{task}", json={"status": "in_progress"}, headers=owner)
                    if task
                    else http.get(f"{project}/tasks", headers=owner)
                ),
            ),
            ("get task", lambda: http.get(f"/api/v1/tasks/{task or team.project}", headers=owner)),
            ("billing usage", lambda: http.get("/api/v1/billing/usage", headers=owner)),
            (
                "list tasks (search)",
                lambda: http.get(f"{project}/tasks", params={"q": "Soak 1"}, headers=owner),
            ),
        ]
        return kinds[n % len(kinds)]

    def run(self, n: int, outcomes: Outcomes, http: httpx.Client) -> None:
        kind, call = self.request(n, http)
        started = time.perf_counter()
        response = outcomes.record(kind, call)
        elapsed = time.perf_counter() - started
        with self._lock:
            self.latencies[kind].append(elapsed)
            if kind == "create task" and response is not None and response.status_code == 201:
                self.created.append(response.json()["id"])


def _paced(url: str, mix: Mix, seconds: float, outcomes: Outcomes) -> None:
    """Request n is due at start + n / RATE; WORKERS threads take the due ones in turn
    until `seconds` are over. A server that answers slower than RATE (a busy machine)
    gets fewer requests in the same time, not a longer soak."""
    start = time.monotonic()
    end = start + seconds
    total = int(seconds * RATE)

    def worker(first: int) -> None:
        with httpx.Client(base_url=url, timeout=30.0) as http:
            for n in range(first, total, WORKERS):
                delay = start + n / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # pacing: a steady rate, not a wait for a state
                elif time.monotonic() >= end:
                    return
                mix.run(n, outcomes, http)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _sample_rss(pid: int, stop: threading.Event, samples: list[tuple[float, int]]) -> None:
    start = time.monotonic()
    while not stop.wait(1.0):
        samples.append((time.monotonic() - start, rss_bytes(pid)))


def _backlog(metrics_url: str) -> float:
    exposition = httpx.get(f"{metrics_url}/metrics", timeout=10.0).text
    return sum(
        float(v) for v in re.findall(r"^cloudtaskhub_outbox_backlog\{[^}]*\} (\S+)$", exposition, re.M)
    )


def _p50_p99_ms(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return round(1000 * ordered[len(ordered) // 2], 1), round(1000 * ordered[int(len(ordered) * 0.99)], 1)


def _slope_mb_per_minute(samples: list[tuple[float, int]]) -> float:
    xs, ys = [t for t, _ in samples], [r / MB for _, r in samples]
    return statistics.linear_regression(xs, ys).slope * 60 if len(samples) > 2 else 0.0


def run_soak(url: str, child: Child, metrics_url: str, seconds: float) -> dict[str, Any]:
    api = Api(url)
    team = Team.form(api)
    mix, outcomes = Mix(team), Outcomes()
    _paced(url, mix, min(10.0, seconds / 5), Outcomes())  # warm-up: caches, pools, first pages
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_rss, args=(child.pid, stop, samples))
    sampler.start()
    started = time.monotonic()
    _paced(url, mix, seconds, outcomes)
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    stopped = time.monotonic()
    eventually(lambda: _backlog(metrics_url) == 0, "the outbox backlog to return to 0", timeout=60)
    drained = time.monotonic() - stopped
    events = team.verify_exactly_once("soak")

    quarter = max(1, len(samples) // 4)
    first, last = samples[:quarter], samples[-quarter:]
    p50, p99 = _p50_p99_ms([x for values in mix.latencies.values() for x in values])
    figures = {
        "seconds": round(elapsed),
        "requests": outcomes.requests,
        "rate": round(outcomes.requests / elapsed, 1),
        "target rate": RATE,
        "load average": round(os.getloadavg()[0], 1),
        "failures": outcomes.requests - outcomes.ok,
        "p50 ms": p50,
        "p99 ms": p99,
        "rss first quarter MB": round(statistics.median(r for _, r in first) / MB, 1),
        "rss last quarter MB": round(statistics.median(r for _, r in last) / MB, 1),
        "rss peak MB": round(max(r for _, r in samples) / MB, 1),
        "rss slope 2nd half MB/min": round(_slope_mb_per_minute(samples[len(samples) // 2 :]), 2),
        "outbox drained after s": round(drained, 1),
        **events,
    }
    print(f"soak: {figures}; {outcomes.summary()}")
    for kind, values in sorted(mix.latencies.items()):
        kind_p50, kind_p99 = _p50_p99_ms(values)
        print(f"  {kind:<22} {len(values):>6} requests  p50 {kind_p50:7.1f} ms  p99 {kind_p99:7.1f} ms")
    for sample in outcomes.dirty[:5]:
        print("  dirty:", sample)
    api.close()
    return figures


def _assert_healthy(figures: dict[str, Any], growth_allowed_mb: float) -> None:
    # The rate reached is a figure, printed with the load average, not a pass mark: it
    # measures how much CPU a shared machine leaves the server (README: 25/s at p50 18 ms;
    # 9/s at p50 237 ms with a load average of 7 on 2 cores), and performance goes to
    # bench/, never into timed assertions.
    assert figures["requests"] > 0
    assert figures["failures"] == 0
    growth = figures["rss last quarter MB"] - figures["rss first quarter MB"]
    assert growth < growth_allowed_mb, f"memory grew {growth:.1f} MB"


@pytest.mark.timeout(300)
def test_under_a_minute_of_steady_mixed_load_nothing_fails_and_the_outbox_drains(
    server: tuple[str, Child, str],
) -> None:
    seconds = float(os.environ.get("CTH_SOAK_SECONDS", "45"))

    figures = run_soak(*server, seconds)

    _assert_healthy(figures, growth_allowed_mb=10)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_five_minutes_of_steady_mixed_load_has_no_errors_flat_memory_and_drains(
    server: tuple[str, Child, str],
) -> None:
    figures = run_soak(*server, float(os.environ.get("CTH_SOAK_SECONDS", "300")))

    # With SQLite's default 2 MiB page cache per connection this run grew 14-16 MB at a
    # steady 2.3-3.0 MB/min; bounded (CTH_SQLITE_CACHE_KIB) it levels off: ~6 MB, 0.2-0.4.
    _assert_healthy(figures, growth_allowed_mb=12)
    assert figures["rss slope 2nd half MB/min"] < 1.0
