"""`python -m bench.spine [--mode quick|full]`: the event-spine part of `make bench` alone.

- events/s and commit→handler p99 through the in-process bus (SQLite, PostgreSQL) and
  Kafka (Tansu), against their baselines (`bench.events`);
- assignment→notification p99, split shape against all-in-one, with the mixed
  scenario (`bench.split`);
- keeping up: under the create-task load of `make bench` (all-in-one, SQLite,
  in-process bus), the seconds from the last request until every module's outbox
  backlog is 0. On the in-process bus a row stays pending until every consumer has
  settled its event (and events those consumers record in turn are rows too), so a
  backlog of 0 everywhere means every consumer has caught up.

Writes bench/results/spine-latest.json (or --out); `make bench` runs all of this too.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import httpx

from bench import events, split
from bench.__main__ import MODES, finish, parse_arguments, run_meta
from bench.common import (
    cloudtaskhub_server,
    figure,
    free_port,
    not_measured,
    pin_server_side,
)
from bench.httpbench import aio_environment
from bench.load import wrk, wrk_version
from bench.scenario import Dataset, create_dataset

#: As the create benchmark of `make bench` (bench.httpbench).
CONNECTIONS = 16
#: The goal of issue 19: every consumer done within this long of the last request.
KEEPING_UP_GOAL_S = 2.0


def backlogs(metrics_url: str, client: httpx.Client) -> dict[str, float]:
    """`cloudtaskhub_outbox_backlog` per module, refreshed by this scrape."""
    found: dict[str, float] = {}
    for line in client.get(metrics_url).text.splitlines():
        if line.startswith("cloudtaskhub_outbox_backlog{"):
            labels, value = line.rsplit(" ", 1)
            module = labels.split('module="', 1)[1].split('"', 1)[0]
            found[module] = float(value)
    return found


def wait_caught_up(metrics_url: str, timeout: float) -> float | None:
    """Seconds until every module's backlog is 0 (polled every 20 ms); None past `timeout`."""
    started = time.monotonic()
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() - started < timeout:
            found = backlogs(metrics_url, client)
            if found and not any(found.values()):
                return time.monotonic() - started
            time.sleep(0.02)
    return None


def keeping_up(server_url: str, metrics_url: str, dataset: Dataset, seconds: float) -> dict[str, Any]:
    if wait_caught_up(metrics_url, 60) is None:
        raise RuntimeError("the backlog of setting up the data did not drain within 60 s")
    load = wrk(
        f"{server_url}/api/v1/projects/{dataset.write_project}/tasks",
        "post_task.lua",
        seconds=seconds,
        connections=CONNECTIONS,
        headers=[dataset.owner.header_line],
        warmup=0,
    )
    caught_up = wait_caught_up(metrics_url, 120)
    if load.failed:
        raise RuntimeError(f"create load: {load.errors} in {load.requests} requests")
    return {"caught_up_s": caught_up, "load": load.summary()}


def run_all_in_one(
    workdir: Path, logs: Path, create_seconds: float, mixed_seconds: float | None = None, probes: int = 0
) -> dict[str, Any]:
    """Keeping up on a fresh all-in-one process; then, with `mixed_seconds`, the mixed
    scenario and the assignment probes against the same process."""
    metrics_port = free_port()
    env = aio_environment(workdir / "keeping-up") | {"CTH_METRICS_PORT": str(metrics_port)}
    server = cloudtaskhub_server("all-in-one-spine", free_port(), logs, env)
    try:
        server.wait_ready("/health/ready")
        dataset = create_dataset(server.url)
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        result: dict[str, Any] = {"keeping_up": keeping_up(server.url, metrics_url, dataset, create_seconds)}
        if mixed_seconds is not None:
            result["mixed"] = split.run_all_in_one(server.url, dataset, mixed_seconds, probes)
    finally:
        server.stop()
    return result


def keeping_up_figure(result: dict[str, Any] | str) -> dict[str, Any]:
    name = "events.keeping_up.all_in_one_sqlite"
    if isinstance(result, str):
        return {name: not_measured(result, "s")}
    caught_up = result["caught_up_s"]
    if caught_up is None:
        return {name: not_measured("the backlog was not 0 within 120 s of the last request", "s")}
    load = result["load"]
    return {
        name: figure(
            caught_up,
            load["seconds"],
            "s",
            baseline_name="the seconds of create load before it",
            better="lower",
            details={
                "create_load": load,
                "goal_s": KEEPING_UP_GOAL_S,
                "goal_met": caught_up <= KEEPING_UP_GOAL_S,
                "note": "from the end of the create load to every module's outbox backlog 0",
            },
        )
    }


def main() -> int:
    arguments = parse_arguments("python -m bench.spine", "spine-latest.json")
    mode = MODES[arguments.mode]
    pin_server_side()
    started = time.monotonic()
    meta = run_meta(
        "python -m bench.spine " + " ".join(sys.argv[1:]),
        mode=arguments.mode,
        load_generator=f"{wrk_version()} (1 thread, keep-alive, pinned to the load CPU)",
        parameters=mode,
        spine_environment=events.spine_environment(),
    )
    events.spine_overrides()  # a misspelt variable stops here
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cth-spine-") as temporary:
        workdir = Path(temporary)
        logs = workdir / "logs"

        def stage(name: str) -> None:
            print(f"[spine {time.monotonic() - started:6.1f}s] {name}", flush=True)

        stage("all-in-one: keeping up under create load, mixed scenario, assignment→notification")
        aio: dict[str, Any] | str
        try:
            aio = run_all_in_one(workdir, logs, mode["http_seconds"], mode["mixed_seconds"], mode["probes"])
        except Exception as error:
            traceback.print_exc()
            aio = f"all-in-one failed: {type(error).__name__}: {error}"[:300]
        figures |= keeping_up_figure(aio if isinstance(aio, str) else aio["keeping_up"])

        stage("event bus: in-process (SQLite, PostgreSQL), Kafka")
        (workdir / "events").mkdir()
        figures |= asyncio.run(
            events.run(
                workdir / "events",
                logs,
                mode["event_seconds"],
                mode["burst"],
                arguments.pg_url,
                mode["drain"],
            )
        )

        stage("split shape through Traefik")
        split_result: dict[str, Any] | str
        if isinstance(aio, str):
            split_result = f"no all-in-one baseline: {aio}"
        else:
            try:
                split_result = split.run_split(workdir / "split", mode["mixed_seconds"], mode["probes"])
            except Exception as error:
                traceback.print_exc()
                split_result = f"split shape failed: {type(error).__name__}: {error}"[:300]
        figures |= split.figures(aio if isinstance(aio, str) else aio["mixed"], split_result)

    return finish(meta, figures, started, arguments.out)


if __name__ == "__main__":
    sys.exit(main())
