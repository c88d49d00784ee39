"""`python -m bench.interleave TREE_A TREE_B [--slices N] [--seconds S] [--out FILE]`:
server CPU per request of two trees, measured in interleaved slices.

On a shared host the CPU a request costs drifts by 2× within minutes (other tenants,
steal): two sequential runs of one tree disagreed that much here, so a before/after
taken one after the other measures the host. This starts, per tree, an all-in-one
server and the bare Litestar peer (each tree's code through `PYTHONPATH`, the servers
on the server CPU), makes each server its dataset, and then loads every target in
turn with `wrk` for a short slice, the order reversed every slice, so a drift falls
on both trees alike. The figure per target is its server's CPU (utime + stime from
/proc) over all its slices divided by its requests; the median of the per-slice
values is printed beside it.

Targets: the task list, one task and the dashboard (authenticated, SQLite) and the
bare peer's list; with `--create`, also task creation (`post_task.lua`), whose CPU is
counted until the server is idle again (the in-process consumers and the relay finish
the slice's events after its last request: a create's cost is theirs too).
A change that is meant to cut the request path's CPU shows here or not at all;
`bench/results/one-write-2026-12-01.json` is an example of not at all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Server, cloudtaskhub_server, free_port, peer_server, pin_server_side
from bench.httpbench import CONNECTIONS, aio_environment, cpu_seconds
from bench.load import wrk
from bench.scenario import create_dataset, list_path

#: A server is idle again when it spends less than this share of a core over `_IDLE_WINDOW`.
_IDLE_SHARE = 0.05
_IDLE_WINDOW = 0.2
_IDLE_LIMIT_SECONDS = 10.0


def _until_idle(pid: int) -> None:
    """Wait for the server to finish the work its requests left (events, relay)."""
    deadline = time.monotonic() + _IDLE_LIMIT_SECONDS
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(_IDLE_WINDOW)
        now = cpu_seconds(pid)
        if now - last < _IDLE_SHARE * _IDLE_WINDOW:
            return
        last = now


def _servers(
    trees: dict[str, Path], workdir: Path, *, create: bool = False
) -> tuple[dict[str, Server], dict[str, Any]]:
    """Per tree an all-in-one server with its dataset, and a bare peer answering with the
    same page; the started servers (to stop) and the targets by (tree, endpoint)."""
    started: dict[str, Server] = {}
    targets: dict[str, Any] = {}
    for side, tree in trees.items():
        os.environ["PYTHONPATH"] = str(tree)  # inherited by the servers started next
        server = cloudtaskhub_server(
            f"aio-{side}", free_port(), workdir / "logs", aio_environment(workdir / side)
        )
        started[f"aio-{side}"] = server
        server.wait_ready("/health/ready")
        data = create_dataset(server.url)
        auth = [data.owner.header_line]
        page = httpx.get(server.url + list_path(data), headers=data.owner.headers, timeout=10).json()
        page_file = workdir / f"page-{side}.json"
        page_file.write_text(json.dumps(page))
        bare = peer_server(
            f"bare-{side}",
            "bare_litestar",
            free_port(),
            workdir / "logs",
            {"BENCH_PAGE_FILE": str(page_file)},
        )
        started[f"bare-{side}"] = bare
        bare.wait_ready("/health/ready")
        targets[f"{side} list"] = (server, server.url + list_path(data), auth)
        targets[f"{side} get"] = (server, f"{server.url}/api/v1/tasks/{data.task_id}", auth)
        targets[f"{side} dashboard"] = (server, f"{server.url}/api/v1/dashboard", auth)
        targets[f"{side} bare list"] = (bare, bare.url + "/tasks", [])
        if create:
            url = f"{server.url}/api/v1/projects/{data.write_project}/tasks"
            targets[f"{side} create"] = (server, url, auth)
    return started, targets


def _script(name: str) -> str:
    return "post_task.lua" if name.endswith(" create") else "get.lua"


def measure(trees: dict[str, Path], slices: int, seconds: float, *, create: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cth-interleave-") as temporary:
        started, targets = _servers(trees, Path(temporary), create=create)
        try:
            cpu = dict.fromkeys(targets, 0.0)
            requests = dict.fromkeys(targets, 0)
            per_slice: dict[str, list[float]] = {name: [] for name in targets}
            for name, (server, url, headers) in targets.items():  # warm-up, not counted
                wrk(url, _script(name), seconds=1.0, connections=CONNECTIONS, headers=headers, warmup=0)
                _until_idle(server.process.pid)
            for index in range(slices):
                order = list(targets) if index % 2 == 0 else list(reversed(targets))
                for name in order:
                    server, url, headers = targets[name]
                    before = cpu_seconds(server.process.pid)
                    result = wrk(
                        url,
                        _script(name),
                        seconds=seconds,
                        connections=CONNECTIONS,
                        headers=headers,
                        warmup=0,
                    )
                    if name.endswith(" create"):
                        _until_idle(server.process.pid)
                    spent = cpu_seconds(server.process.pid) - before
                    cpu[name] += spent
                    requests[name] += result.requests
                    per_slice[name].append(spent * 1000 / max(result.requests, 1))
        finally:
            for server in started.values():
                server.stop()
    return {
        name: {
            "cpu_ms_per_request": round(cpu[name] * 1000 / max(requests[name], 1), 4),
            "median_slice_cpu_ms_per_request": round(statistics.median(per_slice[name]), 4),
            "requests": requests[name],
        }
        for name in targets
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.interleave")
    parser.add_argument("before", type=Path, help="the tree measured as 'before' (a worktree)")
    parser.add_argument("after", type=Path, help="the tree measured as 'after'")
    parser.add_argument("--slices", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one slice")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--create", action="store_true", help="task creation too (CPU until the server is idle)"
    )
    arguments = parser.parse_args()
    pin_server_side()
    trees = {"before": arguments.before.resolve(), "after": arguments.after.resolve()}
    results = measure(trees, arguments.slices, arguments.seconds, create=arguments.create)
    for name, figures in results.items():
        print(f"{name:18s} {figures}")
    if arguments.out:
        meta = {
            "trees": {side: str(tree) for side, tree in trees.items()},
            "slices": arguments.slices,
            "create": arguments.create,
        }
        arguments.out.write_text(json.dumps({"meta": meta, "targets": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
