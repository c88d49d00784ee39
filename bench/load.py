"""The load generator: wrk (C, event loop), pinned to the load CPU.

One wrk thread and a fixed number of keep-alive connections; each run is
preceded by a discarded warm-up run. wrk measures a closed loop: latency
percentiles are at the throughput the server sustains with `connections`
requests in flight, not at a fixed offered rate.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import LOAD_CPUS

WRK_DIR = Path(__file__).resolve().parent / "wrk"


class NoCompletedRequests(RuntimeError):
    """Every request of a run was still in flight at its end."""


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 2),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "errors": self.errors,
        }


def wrk_version() -> str:
    if not shutil.which("wrk"):
        return ""
    run = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return (run.stdout + run.stderr).splitlines()[0].strip() if (run.stdout + run.stderr) else "wrk"


def wrk(
    url: str,
    script: str,
    *,
    seconds: float,
    connections: int,
    headers: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    warmup: float = 1.0,
) -> LoadResult:
    if warmup > 0:
        _run(url, script, seconds=warmup, connections=connections, headers=headers, env=env)
    return _run(url, script, seconds=seconds, connections=connections, headers=headers, env=env)


def _run(
    url: str,
    script: str,
    *,
    seconds: float,
    connections: int,
    headers: Sequence[str],
    env: Mapping[str, str] | None,
) -> LoadResult:
    command = [
        "taskset", "-c", ",".join(map(str, sorted(LOAD_CPUS))),
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
        "--timeout", "10s", "-s", str(WRK_DIR / script),
    ]  # fmt: skip
    if (os.cpu_count() or 1) < 2:
        command = command[3:]
    for header in headers:
        command += ["-H", header]
    command.append(url)
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BENCH_WRK_DIR": str(WRK_DIR), **(env or {})},
        timeout=seconds + 60,
    )
    line = next((x for x in run.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({run.returncode}): {run.stdout}\n{run.stderr}")
    data = json.loads(line.removeprefix("WRKJSON "))
    duration = data["duration_us"] / 1e6
    if not data["requests"]:  # wrk reports 0 µs percentiles when nothing completed
        raise NoCompletedRequests(f"no request to {url} completed within {seconds:.0f}s")
    return LoadResult(
        requests=data["requests"],
        seconds=duration,
        rps=data["requests"] / duration if duration else 0.0,
        p50_ms=round(data["p50_us"] / 1000, 2),
        p90_ms=round(data["p90_us"] / 1000, 2),
        p99_ms=round(data["p99_us"] / 1000, 2),
        max_ms=round(data["max_us"] / 1000, 2),
        errors=data["errors"],
    )
