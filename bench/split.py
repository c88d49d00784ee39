"""Split vs all-in-one: a mixed scenario through Traefik in the split shape
(one process per module, Kafka on Tansu, Traefik) against the all-in-one process
directly; assignment→notification delay in both; each process's footprint."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import figure, not_measured, percentile, rss_mib
from bench.load import LoadResult, wrk
from bench.scenario import Dataset

CONNECTIONS = 16


def mixed(base_url: str, dataset: Dataset, seconds: float) -> LoadResult:
    env = {
        "BENCH_TOKEN": dataset.owner.token,
        "BENCH_PROJECT": dataset.list_project,
        "BENCH_WRITE_PROJECT": dataset.write_project,
        "BENCH_TASK": dataset.task_id,
    }
    result = wrk(base_url + "/", "mixed.lua", seconds=seconds, connections=CONNECTIONS, env=env)
    if result.failed:
        raise RuntimeError(
            f"mixed scenario against {base_url}: {result.errors} in {result.requests} requests"
        )
    return result


def assignment_delays(
    base_url: str, dataset: Dataset, probes: int, timeout: float = 10.0
) -> list[float] | str:
    """Seconds from the assigning PATCH's answer to the assignee seeing the notification."""
    delays: list[float] = []
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        owner, member = dataset.owner.headers, dataset.member.headers
        for number in range(probes):
            task = client.post(
                f"/api/v1/projects/{dataset.write_project}/tasks",
                json={"title": f"Assignment probe {number}"},
                headers=owner,
            ).json()["id"]
            assigned = client.patch(
                f"/api/v1/tasks/{task}", json={"assignee_id": dataset.member.user_id}, headers=owner
            )
            if assigned.status_code != 200:
                return f"assigning answered {assigned.status_code}"
            answered = time.monotonic()
            while True:
                page = client.get("/api/v1/notifications?limit=20", headers=member)
                if page.status_code != 200:
                    return f"GET /api/v1/notifications answered {page.status_code}"
                if any(item.get("subject_id") == task for item in page.json()["items"]):
                    delays.append(time.monotonic() - answered)
                    break
                if time.monotonic() - answered > timeout:
                    return f"no notification within {timeout}s"
                time.sleep(0.005)
    return delays


def _delay_summary(delays: list[float]) -> dict[str, float]:
    ms = [d * 1000 for d in delays]
    return {"probes": len(ms), "p50_ms": round(percentile(ms, 50), 1), "p99_ms": round(percentile(ms, 99), 1)}


def run_all_in_one(base_url: str, dataset: Dataset, seconds: float, probes: int) -> dict[str, Any]:
    load = mixed(base_url, dataset, seconds)
    delays = assignment_delays(base_url, dataset, probes)
    return {"load": load, "delays": delays}


def run_split(run_dir: Path, seconds: float, probes: int) -> dict[str, Any]:
    from bench.scenario import create_dataset
    from entrypoints.split import SplitStack

    env = {
        "CTH_LOG_LEVEL": "WARNING",
        "CTH_DB_BOOTSTRAP": "create",
        "CTH_ACCESS_TOKEN_TTL_SECONDS": "3600",
    }
    started = time.monotonic()
    stack = SplitStack(run_dir, env=env)
    stack.start()
    ready = time.monotonic() - started
    try:
        dataset = create_dataset(stack.url, tag="split")
        load = mixed(stack.url, dataset, seconds)
        delays = assignment_delays(stack.url, dataset, probes)
        rss = {name: rss_mib(child.pid) for name, child in stack.servers.items()}
        for child in stack.children:
            if child.name in ("broker", "traefik"):
                rss[child.name] = rss_mib(child.pid)
    finally:
        stack.stop()
    return {"load": load, "delays": delays, "rss": rss, "ready_s": ready}


def figures(aio: dict[str, Any] | str, split: dict[str, Any] | str) -> dict[str, Any]:
    if isinstance(aio, str) or isinstance(split, str):
        reason = str(split)
        out = {
            "split.mixed.latency_p99": not_measured(reason, "ms"),
            "split.mixed.throughput": not_measured(reason, "requests/s"),
            "split.assignment_to_notification.p99": not_measured(reason, "ms"),
        }
    else:
        a_load: LoadResult = aio["load"]
        s_load: LoadResult = split["load"]
        out = {
            "split.mixed.latency_p99": figure(
                s_load.p99_ms,
                a_load.p99_ms,
                "ms",
                baseline_name="the same mixed scenario against the all-in-one process directly",
                better="lower",
                details={
                    "split": s_load.summary(),
                    "all_in_one": a_load.summary(),
                    "p50_ratio": round(s_load.p50_ms / a_load.p50_ms, 2),
                    "goal_ratio": 1.5,
                    "goal_met": s_load.p99_ms < 1.5 * a_load.p99_ms,
                },
            ),
            "split.mixed.throughput": figure(
                s_load.rps,
                a_load.rps,
                "requests/s",
                baseline_name="the same mixed scenario against the all-in-one process directly",
                better="higher",
            ),
        }
        s_delays, a_delays = split["delays"], aio["delays"]
        if isinstance(s_delays, str) or isinstance(a_delays, str):
            reason = s_delays if isinstance(s_delays, str) else a_delays
            out["split.assignment_to_notification.p99"] = not_measured(str(reason), "ms")
        else:
            s, a = _delay_summary(s_delays), _delay_summary(a_delays)
            out["split.assignment_to_notification.p99"] = figure(
                s["p99_ms"],
                a["p99_ms"],
                "ms",
                baseline_name="assignment→notification in the all-in-one process",
                better="lower",
                details={"split": s, "all_in_one": a},
            )
    return out
