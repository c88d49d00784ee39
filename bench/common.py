"""Shared plumbing: machine facts, CPU pinning, child processes, figures."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
#: The server side (servers, broker, Traefik, the in-process bus benches) runs on
#: CPU 0; the load generator on CPU 1, so it never steals the server's core.
SERVER_CPUS = {0}
LOAD_CPUS = {1}


def pin_server_side() -> None:
    """Pin this process (and every child it starts from now on) to the server CPUs."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, SERVER_CPUS)


def pin_all_threads(pid: int, cpus: set[int]) -> None:
    """Pin every thread of a running process (Go and Rust children start many)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        subprocess.run(
            ["taskset", "-a", "-p", "-c", ",".join(map(str, sorted(cpus))), str(pid)],
            check=False,
            capture_output=True,
        )


@contextlib.contextmanager
def database_backends_on_load_cpu(*urls: str | None) -> Iterator[None]:
    """While inside, the PostgreSQL backends of these databases run on the load CPUs.

    The database is another machine's work in production; here the kernel would wake a
    backend on the measured process's core (`bench/pin_backends.py` says what that cost).
    """
    names = [url.rsplit("/", 1)[1].split("?", 1)[0] for url in urls if url]
    if not names or (os.cpu_count() or 1) < 2:
        yield
        return
    cpus = ",".join(map(str, sorted(LOAD_CPUS)))
    pinner = subprocess.Popen(
        [sys.executable, "-m", "bench.pin_backends", "--cpus", cpus, *names], cwd=ROOT, stdin=subprocess.PIPE
    )
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pinner.pid, LOAD_CPUS)
    try:
        yield
    finally:
        assert pinner.stdin is not None
        pinner.stdin.close()
        try:
            pinner.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pinner.kill()
            pinner.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mib": memory_kib // 1024,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "server_cpus": sorted(SERVER_CPUS),
        "load_cpus": sorted(LOAD_CPUS),
        # bench/pin_backends.py: PostgreSQL's backends beside the load generator and broker
        # (moving another user's processes needs root; without it they stay where they are).
        "postgres_backend_cpus": sorted(LOAD_CPUS) if os.geteuid() == 0 else "unpinned (not root)",
    }


def rss_mib(pid: int) -> float:
    """Resident set size of one process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def percentile(samples: Sequence[float], p: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return round(value / baseline, 3)


def figure(
    value: float | None,
    baseline: float | None,
    unit: str,
    *,
    baseline_name: str,
    better: str,
    details: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One figure: value vs its same-run baseline. `better`: `higher` or `lower`."""
    return {
        "value": None if value is None else round(value, 3),
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": ratio(value, baseline),
        "unit": unit,
        "baseline_name": baseline_name,
        "better": better,
        **({"details": dict(details)} if details else {}),
    }


def not_measured(reason: str, unit: str = "") -> dict[str, Any]:
    return {"value": None, "baseline": None, "ratio": None, "unit": unit, "not_measured": reason}


@dataclass
class Server:
    """An HTTP server we started (in its own session), pinned to the server CPUs."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    started_at: float
    ready_after: float | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str, timeout: float = 60.0) -> float:
        """Seconds from spawn until `path` answered 200 (cold start to ready)."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.url}{path}").status_code == 200:
                        self.ready_after = time.monotonic() - self.started_at
                        return self.ready_after
                time.sleep(0.02)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def spawn_server(
    name: str, command: Sequence[str], port: int, log_dir: Path, env: Mapping[str, str] | None = None
) -> Server:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    full_env = {**os.environ, **(env or {})}
    with log_path.open("ab") as log:
        started = time.monotonic()
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )
    return Server(name, process, port, log_path, started, env=dict(env or {}))


def cloudtaskhub_server(name: str, port: int, log_dir: Path, env: Mapping[str, str]) -> Server:
    command = [str(VENV_BIN / "cloudtaskhub"), "serve", "--modules", "all", "--port", str(port)]
    return spawn_server(name, command, port, log_dir, env)


def peer_server(name: str, app: str, port: int, log_dir: Path, env: Mapping[str, str]) -> Server:
    """A peer app served by `bench.peers.serve` with the same uvicorn settings as `cloudtaskhub serve`."""
    command = [sys.executable, "-m", "bench.peers.serve", app, "--port", str(port)]
    return spawn_server(name, command, port, log_dir, env)


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")
