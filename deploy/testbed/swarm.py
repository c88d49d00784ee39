"""The production Swarm stack, for real, on this machine (deploy/testbed/README.md).

    python deploy/testbed/swarm.py up allinone|split   engine, images, secrets, `make deploy`
    python deploy/testbed/swarm.py down                the stack, its volumes and secrets; the
                                                       engine too if this test bed started it
    python deploy/testbed/swarm.py e2e [STEP ...]      the steps below, in order, timed

Every deploy goes through `make deploy TAG=... SHAPE=...` (deploy/deploy.mk), as CD does,
with the test bed's env file and deploy/testbed/stack.yml merged onto deploy/stack.yml.
All traffic goes to Traefik's published port on 127.0.0.1 (SWARM_HTTP_PORT, 8080).
A step that this sandbox cannot do says so in its output and fails the run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deploy.testbed.priority import children, renice_threads  # noqa: E402
from tests.e2e.scenario import PASSWORD, Scenario, Shape, eventually  # noqa: E402

WORK = ROOT / "var" / "testbed"
ENV_FILE = WORK / "swarm.env"
STACK = "cloudtaskhub"
IMAGE = "cloudtaskhub-testbed/cloudtaskhub"
OVERRIDE = "deploy/testbed/stack.yml"
HTTP_PORT = int(os.environ.get("SWARM_HTTP_PORT", "8080"))
HTTPS_PORT = int(os.environ.get("SWARM_HTTPS_PORT", "8443"))
URL = f"http://127.0.0.1:{HTTP_PORT}"
MODULES = ("auth", "project", "billing", "notification", "analytics", "gateway")
APP_SERVICES = ("app", *MODULES)
#: deploy/shapes/*.env's replica counts (the production defaults).
REPLICAS = {
    "allinone": {"app": 2},
    "split": {"auth": 2, "project": 2, "billing": 1, "notification": 1, "analytics": 1, "gateway": 2},
}
CONVERGE_TIMEOUT = float(os.environ.get("SWARM_CONVERGE_TIMEOUT", "900"))
#: How long a replaced task serves on: the stack's own CTH_SHUTDOWN_DRAIN_SECONDS.
_APP_ENV = yaml.safe_load((ROOT / "deploy" / "stack.yml").read_text())["x-app-environment"]
DRAIN_SECONDS = float(_APP_ENV["CTH_SHUTDOWN_DRAIN_SECONDS"])
STEADY_RATE = 20.0  # requests per second, mixed reads and writes
TIMINGS: dict[str, float] = {}
STARTED = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} [swarm] {message}", flush=True)


def run(*command: str, check: bool = True, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        command, cwd=ROOT, text=True, capture_output=True, env={**os.environ, **(env or {})}
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


#: What an engine says when one of its calls ran out of time or it is restarting its API,
#: not that the request was wrong: under a rolling update on vfs (every new container a full
#: copy of the image) CI's engine answered `docker service ps` with "DeadlineExceeded" once,
#: and the run failed at a read that a second later would have answered.
TRANSIENT = ("DeadlineExceeded", "context deadline exceeded", "Cannot connect to the Docker daemon")
#: Commands that only read, so asking again changes nothing.
READS = {"ls", "ps", "inspect", "info", "logs"}


def transient(output: str) -> bool:
    return any(marker in output for marker in TRANSIENT)


def docker(*args: str, check: bool = True) -> str:
    """`docker ARGS`; a read that failed on a transient engine error is asked again (up to
    six times over about a minute) before the error counts."""
    reads = args[0] in READS or (len(args) > 1 and args[1] in READS)
    for attempt in range(6):
        try:
            return run("docker", *args, check=check)
        except RuntimeError as error:
            if not (reads and transient(str(error))) or attempt == 5:
                raise
            log(f"docker {' '.join(args[:2])}: {str(error).splitlines()[-1]}; asking again")
            time.sleep(2 + 2 * attempt)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def timed(name: str) -> Iterator[None]:
    start = time.monotonic()
    log(f"--- {name}")
    yield
    TIMINGS[name] = time.monotonic() - start
    log(f"--- {name}: done in {TIMINGS[name]:.0f}s")


# -- the engine ----------------------------------------------------------------------------


def apt_install(*packages: str) -> None:
    log(f"installing Debian's {' '.join(packages)} (apt-get)")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "-q", *packages], env={**os.environ, **env}).returncode:
        run("apt-get", "update", "-q", env=env)
        run("apt-get", "install", "-y", "-q", *packages, env=env)


def storage_driver() -> str:
    """overlay2 where the kernel has overlayfs (copy-on-write: a build step or a container
    start does not copy the image), else vfs, which works everywhere but copies every layer.
    SWARM_STORAGE_DRIVER chooses."""
    if chosen := os.environ.get("SWARM_STORAGE_DRIVER"):
        return chosen
    filesystems = Path("/proc/filesystems").read_text()
    return "overlay2" if any(line.split()[-1] == "overlay" for line in filesystems.splitlines()) else "vfs"


def engine_up() -> bool:
    """True if it started the engine (then `engine_down` stops it again)."""
    started = False
    WORK.mkdir(parents=True, exist_ok=True)
    for tool, package in (("dockerd", "docker.io"), ("debootstrap", "debootstrap")):
        if shutil.which(tool) is None:
            apt_install(package)
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        driver = storage_driver()
        log(f"no Docker engine answers: starting dockerd --storage-driver={driver} (stopped again by `down`)")
        with open(WORK / "dockerd.log", "ab") as output:
            daemon = subprocess.Popen(
                ["dockerd", f"--storage-driver={driver}"],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        (WORK / "dockerd.pid").write_text(str(daemon.pid))
        eventually(
            lambda: subprocess.run(["docker", "info"], capture_output=True).returncode == 0,
            "dockerd to answer",
            120,
        )
        engine_priority(daemon.pid)
        started = True
    if docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip() != "active":
        log("one-node Swarm: docker swarm init --advertise-addr 127.0.0.1")
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    # The agent heartbeats to its own manager every period, each call allowed a fixed 5s; a
    # call that misses ends the session, and the manager marks the node down and restarts
    # every task on it (measured at a load average of ~30: the whole stack, Traefik and
    # PostgreSQL included, restarted in the middle of `make rollback`). With one node there
    # is no other to fail over to, so a longer period (SWARM_DISPATCHER_HEARTBEAT, 30s; Swarm's
    # default 5s) only means six times fewer heartbeat calls that can miss. Not yet measured,
    # and no cure: the session's other calls can still miss on a machine that starved.
    heartbeat = os.environ.get("SWARM_DISPATCHER_HEARTBEAT", "30s")
    docker("swarm", "update", "--dispatcher-heartbeat", heartbeat)
    node = docker("info", "--format", "{{.Swarm.NodeID}}").strip()
    docker("node", "update", "--label-add", "cloudtaskhub.data=true", node)
    cpu_weight()
    return started


def engine_priority(pid: int) -> None:
    """dockerd's own threads, not its children, to SWARM_ENGINE_NICE (-10; deploy/testbed/priority.py).

    Swarm's manager and agent live in dockerd; starved, the agent missed its heartbeat to its
    own manager, which marked the node down and restarted every task. dockerd started at the
    normal priority and has started its containerd by the time it answers, so containerd, the
    shims and every container stay at 0 when its threads are reniced: under `nice -n -10
    dockerd` they inherited -10, and the stack's own app processes starved the machine."""
    nice = int(os.environ.get("SWARM_ENGINE_NICE", "-10"))
    containerd = children(pid, "containerd")
    threads = renice_threads(pid, nice)
    log(
        f"dockerd (pid {pid}, {len(threads)} threads) at nice {nice}; its containerd "
        f"({', '.join(map(str, containerd)) or 'not its child: a system containerd'}), "
        "the shims and the containers at the normal priority"
    )


def cpu_weight() -> None:
    """With cgroup v1 every container sits under one `docker` group whose cpu.shares (1024)
    weigh as much as a single host process: on a machine busy with other work, a dozen
    starting app tasks then share one process's slice, miss their health checks and are
    restarted forever. The test bed gives the group SWARM_CPU_SHARES (16384, sixteen processes'
    worth); on an idle machine (CI) this changes nothing."""
    shares = Path("/sys/fs/cgroup/cpu/docker/cpu.shares")
    wanted = os.environ.get("SWARM_CPU_SHARES", "16384")
    if shares.exists() and shares.read_text().strip() != wanted:
        log(f"cgroup v1: docker containers' CPU weight {shares.read_text().strip()} -> {wanted}")
        shares.write_text(wanted)


def engine_down() -> None:
    pid_file = WORK / "dockerd.pid"
    if not pid_file.exists():
        log("the Docker engine was running before the test bed: left running")
        return
    pid = int(pid_file.read_text())
    with contextlib.suppress(FileNotFoundError):
        if Path(f"/proc/{pid}/comm").read_text().strip() != "dockerd":
            log(f"pid {pid} is no dockerd (any more): nothing to stop")
            pid_file.unlink()
            return
    containerd = children(pid, "containerd")
    log(f"stopping the dockerd this test bed started (pid {pid}) and its containerd {containerd}")
    for process in (pid, *containerd):
        stop(process)
    pid_file.unlink()


def exited(pid: int) -> bool:
    """Gone, or a zombie: after `make swarm-up` returned, its dockerd is no child of ours, and
    init here reaps it seconds after it exits."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def stop(pid: int) -> None:
    """SIGTERM, up to 90 s for it to exit, then SIGKILL: nothing the test bed started outlives it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # our child: reap it, or it lingers
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    return
            if exited(pid):
                return
            time.sleep(0.5)
        log(f"pid {pid} still runs 90 s after SIGTERM: SIGKILL")
        os.kill(pid, signal.SIGKILL)


# -- images, secrets, the env file ----------------------------------------------------------


def build(tag: str) -> None:
    with timed(f"build images (app tag {tag})"):
        subprocess.run(["deploy/testbed/build.sh", tag], cwd=ROOT, check=True)


def build_failing_image(good: str, bad: str) -> None:
    """The release that never gets healthy: the good image with a health check that fails."""
    dockerfile = f'FROM {IMAGE}:{good}\nHEALTHCHECK --interval=5s --timeout=3s --retries=1 CMD ["false"]\n'
    subprocess.run(
        ["docker", "build", "--quiet", "-t", f"{IMAGE}:{bad}", "-"], input=dockerfile, text=True, check=True
    )


def secrets() -> None:
    """The secrets and the public key config of docs/vps-setup.md, made offline."""
    existing = set(docker("secret", "ls", "--format", "{{.Name}}").split())
    existing |= set(docker("config", "ls", "--format", "{{.Name}}").split())
    with tempfile.TemporaryDirectory() as tmp:
        key, public = Path(tmp, "jwt_private.pem"), Path(tmp, "jwt_public.pem")

        def create(kind: str, name: str, content: bytes) -> None:
            if f"{STACK}_{name}_v1" not in existing:
                subprocess.run(
                    ["docker", kind, "create", f"{STACK}_{name}_v1", "-"], input=content, check=True
                )

        if f"{STACK}_jwt_private_key_v1" not in existing:
            run("openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key))
            run("openssl", "pkey", "-in", str(key), "-pubout", "-out", str(public))
            docker("secret", "create", f"{STACK}_jwt_private_key_v1", str(key))
            docker("config", "rm", f"{STACK}_jwt_public_key_v1", check=False)
            docker("config", "create", f"{STACK}_jwt_public_key_v1", str(public))
        create("secret", "db_password", run("openssl", "rand", "-hex", "24").strip().encode())
        create("secret", "grafana_admin_password", run("openssl", "rand", "-hex", "16").strip().encode())
        # htpasswd needs an image from Docker Hub; openssl writes the same apr1 hash.
        ops = run("openssl", "passwd", "-apr1", run("openssl", "rand", "-hex", "12").strip()).strip()
        create("secret", "traefik_dashboard_users", f"ops:{ops}\n".encode())


def write_env(replicas: dict[str, int] | None = None) -> None:
    """The test bed's env file: what differs from a production server's .env. The release
    lines (CTH_IMAGE_TAG, CTH_PREVIOUS_IMAGE_TAG) are `make deploy`'s and are kept."""
    kept = []
    if ENV_FILE.exists():
        kept = [
            line
            for line in ENV_FILE.read_text().splitlines()
            if line.startswith("CTH_") and "IMAGE_TAG=" in line
        ]
    lines = [
        "# Written by deploy/testbed/swarm.py; `make deploy` records the release lines.",
        f"CTH_IMAGE={IMAGE}",
        "CTH_DOMAIN=localhost",
        "CTH_ACME_EMAIL=",
        "CTH_TLS_CERT_RESOLVER=",
        "CTH_KAFKA_IDEMPOTENT_PRODUCER=false",
        "CTH_KAFKA_LEAVE_GROUP_ON_STOP=false",
        f"CTH_HTTP_PORT={HTTP_PORT}",
        f"CTH_HTTPS_PORT={HTTPS_PORT}",
        *(f"CTH_{name.upper()}_REPLICAS={count}" for name, count in (replicas or {}).items()),
        *kept,
    ]
    ENV_FILE.write_text("\n".join(lines) + "\n")
    ENV_FILE.chmod(0o600)


# -- deploying and converging --------------------------------------------------------------


def make_deploy(tag: str, shape: str, target: str = "deploy") -> None:
    command = [
        "make",
        "--no-print-directory",
        target,
        f"TAG={tag}",
        f"SHAPE={shape}",
        f"ENV_FILE={ENV_FILE}",
        f"STACK_OVERRIDE={OVERRIDE}",
        "DEPLOY_DETACH=true",
    ]
    # A stack deploy of the same files is idempotent, so one the engine timed out on is
    # sent again (see TRANSIENT); any other failure stops the run.
    for attempt in range(3):
        log(f"make {target} TAG={tag} SHAPE={shape}")
        result = subprocess.run(command, cwd=ROOT, text=True, capture_output=True)
        print(result.stdout, end="", flush=True)
        print(result.stderr, end="", file=sys.stderr, flush=True)
        if result.returncode == 0:
            break
        if not transient(result.stdout + result.stderr) or attempt == 2:
            raise subprocess.CalledProcessError(result.returncode, command, result.stdout, result.stderr)
        log(f"make {target}: the engine timed out; deploying again")
        time.sleep(10)
    cpu_weight()  # the group exists once a container has run


def services() -> list[dict[str, Any]]:
    names = docker(
        "service", "ls", "--filter", f"label=com.docker.stack.namespace={STACK}", "--format", "{{.Name}}"
    )
    if not names.split():
        return []
    return list(json.loads(docker("service", "inspect", *names.split())))


def service_state(service: dict[str, Any]) -> tuple[str, int, int, str]:
    """(name, desired replicas, running and healthy tasks, update state)."""
    name = service["Spec"]["Name"].removeprefix(f"{STACK}_")
    mode = service["Spec"]["Mode"]
    desired = mode["Replicated"]["Replicas"] if "Replicated" in mode else 1
    tasks = docker(
        "service", "ps", service["ID"], "--filter", "desired-state=running", "--format", "{{.CurrentState}}"
    ).splitlines()
    running = sum(1 for t in tasks if t.startswith("Running"))
    update = (service.get("UpdateStatus") or {}).get("State", "")
    return name, desired, running, update


def image_tag(service: dict[str, Any]) -> str:
    image = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].split("@")[0]
    return image.rsplit(":", 1)[-1]


def wait_converged(
    tag: str, shape: str, replicas: dict[str, int] | None = None, settled: tuple[str, ...] = ()
) -> float:
    """Until every service runs its desired tasks, no update is in flight, the app services
    run `tag`, and Traefik routes the API. Returns the seconds it took."""
    start = time.monotonic()
    expected = {**REPLICAS[shape], **(replicas or {})}
    finished = ("", "completed", "rollback_completed", *settled)
    last = ""
    while True:
        states, waiting = [], []
        for service in services():
            name, desired, running, update = service_state(service)
            states.append(f"{name} {running}/{desired}{' ' + update if update else ''}")
            if name in APP_SERVICES:
                if desired != expected.get(name, 0):
                    waiting.append(f"{name} wants {desired}")
                if desired and image_tag(service) != tag:
                    waiting.append(f"{name} on {image_tag(service)}")
            if running != desired or update not in finished:
                waiting.append(name)
        if not waiting and api_answers():
            took = time.monotonic() - start
            log(f"converged in {took:.0f}s: {', '.join(states)}")
            return took
        summary = ", ".join(states)
        if summary != last:
            log(f"waiting: {summary}")
            last = summary
        if time.monotonic() - start > CONVERGE_TIMEOUT:
            raise AssertionError(f"not converged within {CONVERGE_TIMEOUT:.0f}s: {summary}\n{task_errors()}")
        time.sleep(3)


def api_answers() -> bool:
    try:
        return httpx.get(f"{URL}/", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def task_errors() -> str:
    out = docker(
        "stack", "ps", STACK, "--no-trunc", "--format", "{{.Name}} {{.CurrentState}} {{.Error}}", check=False
    )
    return "\n".join(line for line in out.splitlines() if "Running" not in line)[-3000:]


def containers(service: str) -> list[str]:
    return docker("ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}").split()


# -- clients -------------------------------------------------------------------------------


@dataclass
class Account:
    """A registered user with a token, on the pro plan (the free plan caps tasks at 100)."""

    http: httpx.Client
    email: str = field(default_factory=lambda: f"swarm-{uuid.uuid4().hex[:10]}@example.com")
    id: str = ""
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def register(self, *, pro: bool = False) -> Account:
        body = {"email": self.email, "password": PASSWORD, "display_name": self.email.split("@")[0]}
        created = self.http.post("/api/v1/auth/register", json=body)
        assert created.status_code == 201, created.text
        self.id = created.json()["id"]
        self.login()
        if pro:
            upgraded = self.http.put(
                "/api/v1/billing/subscription", json={"plan": "pro"}, headers=self.headers
            )
            assert upgraded.status_code == 200, upgraded.text
        return self

    def login(self) -> None:
        """A fresh access token (they live CTH_ACCESS_TOKEN_TTL_SECONDS, 15 min by default)."""
        login = self.http.post("/api/v1/auth/login", json={"email": self.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        self.token = login.json()["access_token"]

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.http.get(path, headers=self.headers, **options)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body, headers=self.headers)

    def project(self, name: str) -> str:
        return str(self.post("/api/v1/projects", {"name": name}).json()["id"])

    def wait_for_pro_limits(self, project: str) -> None:
        """The project module applies the plan when billing's event arrives."""

        def usage() -> bool:
            return self.get("/api/v1/billing/usage").json()["limits"]["tasks_per_month"] > 100

        eventually(usage, "the pro plan in billing")
        probe = self.post(f"/api/v1/projects/{project}/tasks", {"title": "probe"})
        assert probe.status_code == 201, probe.text

    def add_member(self, project: str, member: Account) -> None:
        def add() -> httpx.Response | None:
            response = self.post(
                f"/api/v1/projects/{project}/members", {"email": member.email, "role": "member"}
            )
            return response if response.status_code != 404 else None

        added = eventually(add, "the project module to know the member")
        assert added.status_code == 201, added.text


class SteadyClient(threading.Thread):
    """About 20 requests a second through Traefik, one in four a write (a task creation),
    the rest reads across every module. Counts every response that is not 2xx and every
    transport error; remembers every task a 2xx said it created."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.http = httpx.Client(base_url=URL, timeout=10.0)
        self.user = Account(self.http).register(pro=True)
        self.project = self.user.project(f"steady {name}")
        self.user.wait_for_pro_limits(self.project)
        self.reads: list[Callable[[], httpx.Response]] = [
            lambda: self.user.get(f"/api/v1/projects/{self.project}/tasks", params={"limit": 5}),
            lambda: self.user.get("/api/v1/auth/me"),
            lambda: self.user.get("/api/v1/billing/subscription"),
            lambda: self.user.get("/api/v1/notifications"),
            lambda: self.user.get(f"/api/v1/analytics/projects/{self.project}/summary"),
            lambda: self.user.get("/api/v1/dashboard"),
        ]
        # Each module learns of the new user and project from events, so the client counts
        # from the moment every read it makes answers, not before: analytics answered 404 for
        # the project it had not heard of yet while its consumer group rebalanced (fresh-clone
        # run, 2026-11-30 22:23, step 4, just after analytics went to two replicas).
        eventually(
            lambda: all(read().is_success for read in self.reads), "every module to know the steady client"
        )
        self.created: list[str] = []
        self.errors: list[str] = []
        self.requests = 0
        self._halt = threading.Event()

    def run(self) -> None:
        reads = self.reads
        n = 0
        next_at = time.monotonic()
        while not self._halt.is_set():
            write = n % 4 == 0
            try:
                if write:
                    response = self.user.post(
                        f"/api/v1/projects/{self.project}/tasks", {"title": f"steady {n}"}
                    )
                else:
                    response = reads[n % len(reads)]()
                if response.is_success:
                    if write:
                        self.created.append(response.json()["id"])
                else:
                    at = time.strftime("%H:%M:%S", time.gmtime())
                    self.errors.append(
                        f"{at} {response.request.method} {response.request.url.path}: {response.status_code}"
                    )
            except httpx.HTTPError as error:
                try:
                    where = f"{error.request.method} {error.request.url.path}"
                except RuntimeError:  # no request attached
                    where = "POST" if write else "GET"
                at = time.strftime("%H:%M:%S", time.gmtime())
                self.errors.append(f"{at} {where}: {type(error).__name__}: {error}")
            self.requests += 1
            n += 1
            next_at += 1 / STEADY_RATE
            self._halt.wait(max(0.0, next_at - time.monotonic()))

    def finish(self) -> None:
        self._halt.set()
        self.join()

    def lost_writes(self) -> list[str]:
        """Tasks a 2xx said were created that cannot be read back."""
        return [t for t in self.created if self.user.get(f"/api/v1/tasks/{t}").status_code != 200]

    def report(self) -> str:
        return f"{self.requests} requests, {len(self.created)} writes, {len(self.errors)} errors"


def require_clean(client: SteadyClient) -> None:
    """Zero, not a budget: no failed request, and every 2xx write is readable afterwards."""
    lost = client.lost_writes()
    if client.errors or lost:
        raise AssertionError(f"{client.report()}; errors: {client.errors[:20]}; lost writes: {lost[:20]}")


@contextlib.contextmanager
def steady(name: str) -> Iterator[SteadyClient]:
    client = SteadyClient(name)
    client.start()
    try:
        yield client
    finally:
        client.finish()
        log(f"steady client: {client.report()}")


# -- the data a shape switch must keep ------------------------------------------------------


@dataclass
class DataSet:
    owner: Account
    member: Account
    project: str
    tasks: list[str]
    #: The owner's billing period when the tasks were created: billing counts them in it.
    period_start: str = ""

    @classmethod
    def create(cls, http: httpx.Client, tasks: int = 5) -> DataSet:
        owner, member = Account(http).register(), Account(http).register()
        project = owner.project("kept across shapes")
        owner.add_member(project, member)
        made = []
        for n in range(tasks):
            created = owner.post(
                f"/api/v1/projects/{project}/tasks", {"title": f"kept {n}", "assignee_id": member.id}
            )
            assert created.status_code == 201, created.text
            made.append(created.json()["id"])
        period = eventually(
            lambda: owner.get("/api/v1/billing/usage").json()["period_start"], "the owner's billing period"
        )
        data = cls(owner, member, project, made, period)
        data.settled("every reaction to the data set")
        return data

    def settled(self, what: str) -> dict[str, Any]:
        # The data set outlives an access token (a full run takes longer than 15 min): its
        # users sign in again, as a client whose token expired does.
        self.owner.login()
        self.member.login()

        def complete() -> dict[str, Any]:
            snapshot = self.snapshot()
            assert snapshot["complete"], snapshot
            return snapshot

        return eventually(complete, what, timeout=120)

    def snapshot(self) -> dict[str, Any]:
        """What a user sees of it; `complete` once every event has been handled."""
        tasks = self.owner.get(f"/api/v1/projects/{self.project}/tasks", params={"limit": 100}).json()[
            "items"
        ]
        notes = self.member.get("/api/v1/notifications", params={"limit": 100}).json()["items"]
        summary = self.owner.get(f"/api/v1/analytics/projects/{self.project}/summary").json()
        usage = self.owner.get("/api/v1/billing/usage").json()
        board = self.member.get("/api/v1/dashboard").json()
        n = len(self.tasks)
        # A billing period close (the scenario on split runs one) renews the owner's
        # subscription too: the new period has no task of the data set in its count.
        billed = n if usage["period_start"] == self.period_start else 0
        assigned = sorted(x["subject_id"] for x in notes if x["kind"] == "task_assigned")
        return {
            "projects": [p["id"] for p in self.owner.get("/api/v1/projects").json()["items"]],
            "tasks": sorted((t["id"], t["title"], t["assignee_id"], t["status"]) for t in tasks),
            "notifications": sorted((x["kind"], x["subject_id"]) for x in notes),
            "summary": summary["tasks_by_status"],
            "usage": (usage["period_start"], usage["projects"], usage["tasks_created"], usage["members"]),
            "dashboard": board.get("open_tasks_assigned"),
            "complete": len(tasks) == n
            and assigned == sorted(self.tasks)
            and summary["tasks_by_status"].get("todo") == n
            and usage["tasks_created"] == billed
            and board.get("open_tasks_assigned") == n,
        }


# -- the steps -----------------------------------------------------------------------------


def close_billing_period(at: str) -> None:
    """Billing's period close as an operator runs it on a server: `cloudtaskhub billing
    close-period --at <moment>` in a running billing (or all-in-one) container, with its
    environment and secrets; the renewal events leave through the running processes' outbox."""
    container = (containers("billing") or containers("app"))[0]
    done = subprocess.run(
        ["docker", "exec", container, "cloudtaskhub", "billing", "close-period", "--at", at],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, f"close-period failed: {done.stdout[-1000:]}{done.stderr[-2000:]}"
    assert "renewed" in done.stdout, done.stdout


def scenario(shape: str, replicas: dict[str, int] | None = None) -> None:
    counts = {**REPLICAS[shape], **(replicas or {})}
    processes = sum(counts.values())
    Scenario(URL, Shape(split=shape == "split", bus="kafka", processes=processes), close_billing_period).run()
    log(f"tests/e2e/scenario.py passed through {URL} ({shape})")


def up(shape: str, tag: str = "a") -> None:
    with timed("engine"):
        engine_up()
    build(tag)
    secrets()
    write_env()
    with timed(f"deploy {shape} TAG={tag}"):
        make_deploy(tag, shape)
        wait_converged(tag, shape)


class Results(list[str]):
    """The steps' results, each also logged as it comes: a failed run still shows the
    figures of the steps that passed."""

    def append(self, line: str) -> None:
        log(f"result: {line}")
        super().append(line)


def e2e(steps: set[str]) -> None:
    http = httpx.Client(base_url=URL, timeout=10.0)
    results = Results()
    up("allinone", "a")

    with timed("1 all-in-one: the scenario through Traefik"):
        scenario("allinone")
    results.append("1 all-in-one deployed, scenario passed")

    with timed("2 data set on all-in-one"):
        data = DataSet.create(http)
        before = data.snapshot()
    with timed("1+2 switch to split (TAG=a), the data is kept"):
        make_deploy("a", "split")
        wait_converged("a", "split")
        after = data.settled("the data set on split")
        assert after == before, f"split changed the data:\n{before}\n{after}"
        scenario("split")
    results.append("2 all-in-one -> split kept every project, task, notification, count")
    results.append("1 split deployed, scenario passed")

    if "update" in steps:
        docker("tag", f"{IMAGE}:a", f"{IMAGE}:b")
        with timed("3 rolling update a -> b under a steady client"), steady("update") as client:
            make_deploy("b", "split")
            took = wait_converged("b", "split")
            time.sleep(DRAIN_SECONDS)  # the last replaced tasks are still draining
        require_clean(client)
        results.append(f"3 rolling update: {client.report()}, 0 lost writes, converged in {took:.0f}s")

    if "rollback" in steps:
        # Every routed service at two replicas: with one, Swarm's rollback (start-first)
        # stops the healthy old task before its replacement runs (moby/moby#43081), and the
        # service has no task at all for a while (measured: README, Deployment).
        two = {"billing": 2, "notification": 2, "analytics": 2}
        write_env(two)
        with timed("4 two replicas per routed service (TAG=b)"):
            make_deploy("b", "split")
            wait_converged("b", "split", two)
        build_failing_image("a", "broken")
        with timed("4 automatic rollback of a release that never gets healthy"), steady("rollback") as client:
            make_deploy("broken", "split")
            took = wait_converged("b", "split", two, settled=("rollback_completed",))
            states = {service_state(s)[0]: service_state(s)[3] for s in services()}
            rolled = sorted(name for name, state in states.items() if state == "rollback_completed")
            assert rolled, f"no service rolled back by itself: {states}"
        require_clean(client)
        results.append(
            f"4 automatic rollback to b of {', '.join(rolled)} in {took:.0f}s: "
            f"{client.report()}, 0 lost writes"
        )
        with timed("4 make rollback TAG=a"), steady("make-rollback") as client:
            make_deploy("a", "split", target="rollback")
            took = wait_converged("a", "split", two)
            time.sleep(DRAIN_SECONDS)
        require_clean(client)
        results.append(f"4 make rollback TAG=a in {took:.0f}s: {client.report()}, 0 lost writes")

    if "scale" in steps:
        scaled = {"project": 3, "notification": 2}
        with timed("5 scale-out: project x3, notification x2"):
            write_env(scaled)
            make_deploy("a", "split")
            wait_converged("a", "split", scaled)
            results.append("5 " + scale_out(http, scaled))

    if "heal" in steps:
        with timed("6 self-healing: docker kill a project container under load"):
            results.append("6 " + self_heal(http))

    if "secrets" in steps:
        with timed("7 secrets, uid, read-only root, Prometheus targets"):
            results.append("7 " + secrets_and_targets())

    with timed("2 switch back to all-in-one, the data is kept"):
        # What the switch back must keep is the data as it stands on split now: the scenario
        # on split closed the billing period, so the owner's usage counts a new period.
        ahead = data.settled("the data set on split before the switch back")
        write_env()
        make_deploy("a", "allinone")
        wait_converged("a", "allinone")
        back = data.settled("the data set on all-in-one")
        assert back == ahead, f"all-in-one changed the data:\n{ahead}\n{back}"
        lasting = {key: value for key, value in back.items() if key != "usage"}
        assert lasting == {key: value for key, value in before.items() if key != "usage"}, (before, back)
        scenario("allinone")
    results.append(
        "2 split -> all-in-one kept it all (billing usage: "
        f"{before['usage'][2]} tasks in the period of {before['usage'][0]}, "
        f"{back['usage'][2]} in the period of {back['usage'][0]} after the scenario's period close), "
        "scenario passed"
    )
    results.append(
        "8 make integration: not a step of this run (building the test image and the code's tests in "
        "a container take longer than this run's budget); `make swarm-integration` runs it on the same "
        "stand-ins"
    )

    log("=== results")
    for line in results:
        log(line)
    log("=== timings")
    for name, seconds in TIMINGS.items():
        log(f"{seconds:7.0f}s  {name}")


#: /metrics from inside an app container: on its own port where CTH_METRICS_PORT sets one,
#: else on the app's port (8000).
METRICS_PROBE = (
    "import os, urllib.request as u; port = int(os.environ.get('CTH_METRICS_PORT') or 0) or 8000; "
    "print(u.urlopen(f'http://127.0.0.1:{port}/metrics').read().decode())"
)


def app_metrics(service: str) -> dict[str, float]:
    """Every container of `service`: its /metrics, summed by series."""
    totals: dict[str, float] = {}
    for container in containers(service):
        text = docker(
            "exec",
            container,
            "python",
            "-c",
            METRICS_PROBE,
        )
        for line in text.splitlines():
            if line.startswith("cloudtaskhub_events_") and not line.startswith("#"):
                series, _, value = line.rpartition(" ")
                totals[series] = totals.get(series, 0.0) + float(value)
    return totals


def scale_out(http: httpx.Client, scaled: dict[str, int]) -> str:
    n = 60
    owner, member = Account(http).register(pro=True), Account(http).register()
    project = owner.project("scaled")
    owner.add_member(project, member)
    owner.wait_for_pro_limits(project)  # one probe task, not assigned

    def create(i: int) -> int:
        with httpx.Client(base_url=URL, timeout=10.0) as client:
            response = client.post(
                f"/api/v1/projects/{project}/tasks",
                json={"title": f"scaled {i}", "assignee_id": member.id},
                headers=owner.headers,
            )
        return response.status_code

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(create, range(n)))
    assert codes == [201] * n, f"creations: {codes}"

    def counted() -> bool:
        notes = member.get("/api/v1/notifications", params={"limit": 100}).json()["items"]
        summary = owner.get(f"/api/v1/analytics/projects/{project}/summary").json()["tasks_by_status"]
        usage = owner.get("/api/v1/billing/usage").json()
        assigned = [x for x in notes if x["kind"] == "task_assigned"]
        counts = {
            "task_assigned": len(assigned),
            "analytics todo": summary.get("todo"),
            "billing tasks_created": usage["tasks_created"],
        }
        assert list(counts.values()) == [n, n + 1, n + 1], counts  # the last counts, if it times out
        return True

    eventually(counted, f"{n} notifications, analytics and billing counts", timeout=120)
    took = time.monotonic() - start
    time.sleep(10)  # a second delivery would land now
    assert counted(), "a count moved past N: something was handled twice"
    skipped = {
        series: value
        for service in ("project", "notification", "analytics", "billing")
        for series, value in app_metrics(service).items()
        if series.startswith("cloudtaskhub_events_skipped_total") and "duplicate" in series
    }
    published = app_metrics("project")
    assigned_published = sum(
        v
        for s, v in published.items()
        if s.startswith("cloudtaskhub_events_published_total") and "task_assigned" in s
    )
    return (
        f"scale-out ({scaled}): {n} task creations through Traefik -> exactly {n} task_assigned "
        f"notifications, analytics todo={n + 1} and billing tasks_created={n + 1} within {took:.0f}s; "
        f"duplicate deliveries skipped by inboxes: {sum(skipped.values()):.0f}; task_assigned published by "
        f"the project replicas since they started: {assigned_published:.0f}"
    )


def self_heal(http: httpx.Client) -> str:
    victims = containers("project")
    assert victims, "no project container to kill"
    with steady("heal") as client:
        time.sleep(5)
        killed_at = time.monotonic()
        docker("kill", victims[0])
        log(f"killed project container {victims[0][:12]}")
        time.sleep(2)
        took = wait_converged("a", "split", {"project": 3, "notification": 2})
        healed = time.monotonic() - killed_at
        time.sleep(5)
    lost = client.lost_writes()
    assert not lost, f"lost writes: {lost[:20]}"
    user, project = client.user, client.project
    listed: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = user.get(f"/api/v1/projects/{project}/tasks", params=params).json()
        listed += [t["id"] for t in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(listed) == len(set(listed)), "a task is listed twice"
    assert set(client.created) <= set(listed), "a created task is missing"
    eventually(
        lambda: (
            user.get(f"/api/v1/analytics/projects/{project}/summary").json()["tasks_by_status"].get("todo")
            == len(listed)
        ),
        "analytics to count every committed task once",
        timeout=120,
    )
    errors = f" ({'; '.join(client.errors[:5])})" if client.errors else ""
    return (
        f"self-healing: killed 1 of 3 project tasks under load; healthy again in {healed:.0f}s "
        f"(converged {took:.0f}s); {client.report()}{errors}; "
        f"committed {len(listed)} tasks, none lost, none doubled, "
        "analytics counts each once"
    )


def secrets_and_targets() -> str:
    split = [s for s in MODULES if containers(s)]
    key_holders = []
    for service in split:
        for container in containers(service):
            probe = subprocess.run(
                ["docker", "exec", container, "test", "-e", "/run/secrets/jwt_private_key"],
                capture_output=True,
            )
            if probe.returncode == 0:
                key_holders.append(service)
            uid = docker("exec", container, "id", "-u").strip()
            assert uid == "10001", f"{service} runs as uid {uid}"
            readonly = docker("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", container).strip()
            write = subprocess.run(
                ["docker", "exec", container, "touch", "/opt/written"], capture_output=True
            )
            assert readonly == "true", f"{service}: root filesystem is not read-only"
            assert write.returncode != 0, f"{service}: could write /opt/written"
    assert set(key_holders) == {"auth"}, f"the signing key is in: {sorted(set(key_holders))}"
    prometheus = containers("prometheus")
    assert prometheus, "no prometheus container"
    seen: list[str] = ["no answer from Prometheus yet"]

    def targets_up() -> dict[str, int] | None:
        # The tasks as they run now: one replaced meanwhile (a failed health check on a
        # loaded host) has a new address, which is the one Prometheus must scrape.
        running = [container for service in split for container in containers(service)]
        ips = {
            ip
            for container in running
            for ip in docker(
                "inspect",
                "--format",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                container,
                check=False,  # gone since `docker ps`: no address, and the next round counts again
            ).split()
        }
        raw = docker(
            "exec",
            prometheus[0],
            "python3",
            "-c",
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9090/api/v1/targets').read().decode())",
        )
        active = [t for t in json.loads(raw)["data"]["activeTargets"] if t["labels"]["job"] == "cloudtaskhub"]
        up = {
            t["labels"]["instance"].split(":")[0]: t["labels"]["service"]
            for t in active
            if t["health"] == "up"
        }
        tasks = len(running)
        if len(up) != tasks or not set(up) <= ips:
            # What a failure reports: every target as Prometheus sees it, against the tasks.
            seen[0] = f"{tasks} app tasks at {sorted(ips)}; targets: " + "; ".join(
                f"{t['labels']['service']} {t['labels']['instance']} {t['health']}"
                + (f" ({t['lastError']})" if t.get("lastError") else "")
                for t in active
            )
            return None
        counts: dict[str, int] = {}
        for service in up.values():
            counts[service] = counts.get(service, 0) + 1
        return counts

    try:
        # A task new since the last DNS refresh (15 s) waits for it and then for a scrape (15 s,
        # up to 10 s each on a loaded host): a few rounds of both.
        counts = eventually(targets_up, "Prometheus to scrape every app task as up", timeout=150)
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen: {seen[0]}") from error
    jaeger = containers("jaeger")
    services_traced = ""
    if jaeger:
        raw = docker(
            "exec",
            jaeger[0],
            "/opt/otlp/bin/python",
            "-c",
            "import urllib.request as u; print(u.urlopen('http://127.0.0.1:16686/api/services').read().decode())",
        )
        services_traced = ", ".join(json.loads(raw)["data"])
    return (
        f"secrets: only auth containers hold the JWT private key; every app container runs as uid 10001 "
        f"with a read-only root filesystem; Prometheus scrapes every app task as up via tasks.<service> DNS "
        f"({counts}); traces received from: {services_traced or 'none'}"
    )


def integration() -> None:
    """`make integration` (deploy/compose.tests.yml) on the stand-ins, built offline; the
    engine stopped again if this started it."""
    started = engine_up()
    try:
        build("a")
        compose_integration()
    finally:
        if started:  # a test that starts the engine stops what it started
            engine_down()


def compose_integration() -> None:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(WORK / "wheelhouse"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    if not subprocess.run(["docker", "compose", "version"], capture_output=True).returncode:
        compose = "docker compose"
    else:
        compose = "docker-compose"
        if shutil.which(compose) is None:
            apt_install("docker-compose")
    try:
        with timed(f"make integration ({compose}, stand-ins)"):
            subprocess.run(
                [
                    "make",
                    "--no-print-directory",
                    "integration",
                    f"COMPOSE={compose}",
                    "COMPOSE_OVERRIDE=deploy/testbed/compose.tests.yml",
                ],
                cwd=ROOT,
                check=True,
                env={**os.environ, "SWARM_WHEELHOUSE_URL": f"http://127.0.0.1:{server.server_address[1]}/"},
            )
    finally:
        server.shutdown()


def down() -> None:
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        log("no Docker engine answers: no stack to remove")
        if (WORK / "dockerd.pid").exists():
            engine_down()  # a dockerd of ours that hangs is still stopped
        return
    if services():
        log(f"docker stack rm {STACK}")
        docker("stack", "rm", STACK)

        def gone() -> bool:
            listed = docker("network", "ls", "--filter", f"label=com.docker.stack.namespace={STACK}", "-q")
            return (
                not listed.strip()
                and not docker("ps", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}").strip()
            )

        eventually(gone, "the stack's containers and networks to go", timeout=180)
    volumes = docker("volume", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}").split()
    if volumes:
        docker("volume", "rm", *volumes)
    for kind in ("secret", "config"):
        names = [n for n in docker(kind, "ls", "--format", "{{.Name}}").split() if n.startswith(f"{STACK}_")]
        if names:
            docker(kind, "rm", *names, check=False)
    with contextlib.suppress(FileNotFoundError):
        ENV_FILE.unlink()
    engine_down()


#: Each module's consumer group as the broker sees it (DescribeGroups from inside an app
#: container): its state and members' client ids. Tells a group stuck rebalancing on the
#: broker from a member that stopped taking part (a failed run's scale-out waited for billing).
GROUPS_PROBE = """
import asyncio
from aiokafka.admin import AIOKafkaAdminClient
async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers="kafka:9092", request_timeout_ms=10000)
    await admin.start()
    try:
        for name in (f"cloudtaskhub.{m}" for m in MODULES):
            try:
                for response in await admin.describe_consumer_groups([name]):
                    for _, group, state, _, _, members in response.groups:
                        print(group, state, sorted(member[0].rsplit("-", 5)[0] for member in members))
            except Exception as error:
                print(name, "not described:", type(error).__name__, error)
    finally:
        await admin.close()
asyncio.run(main())
"""


def consumer_groups() -> str:
    code = f"MODULES = {list(MODULES)!r}\n{GROUPS_PROBE}"
    for service in APP_SERVICES:
        for container in containers(service):
            at = time.strftime("%H:%M:%S", time.gmtime())
            try:
                probe = subprocess.run(
                    ["docker", "exec", container, "python", "-c", code],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            except subprocess.TimeoutExpired:
                return f"{at} DescribeGroups from {service} timed out\n"
            return f"{at} from {service} ({container[:12]}):\n{probe.stdout}{probe.stderr}"
    return "no app container to ask the broker from\n"


def unsettled(groups: str) -> list[str]:
    """The groups of a `consumer_groups()` answer that are neither Stable nor Empty."""
    return [
        line
        for line in groups.splitlines()
        if line.startswith("cloudtaskhub.") and line.split()[1] not in ("Stable", "Empty")
    ]


def watch_groups(seconds: float = 180.0) -> str:
    """Each group as the broker sees it, again every 20 s while one is unsettled (up to
    `seconds`): tells a group that settles late (a member replaced after its readiness
    failed) from one that stays wedged."""
    answers = [consumer_groups()]
    deadline = time.monotonic() + seconds
    while unsettled(answers[-1]) and time.monotonic() < deadline:
        log(f"unsettled consumer groups: {'; '.join(unsettled(answers[-1]))}")
        time.sleep(20)
        answers.append(consumer_groups())
    return "".join(answers)


def keep_logs() -> None:
    """After a failed run, before `down` removes the evidence: every task's state and
    error, and the last lines of every service's log, under var/testbed/logs/."""
    logs = WORK / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    (logs / "uptime.txt").write_text(run("uptime", check=False))
    (logs / "tasks.txt").write_text(
        docker(
            "stack",
            "ps",
            STACK,
            "--no-trunc",
            "--format",
            "{{.Name}} {{.Image}} {{.DesiredState}} {{.CurrentState}} {{.Error}}",
            check=False,
        )
    )
    (logs / "groups.txt").write_text(watch_groups())
    for service in services():
        name = service["Spec"]["Name"]
        # Every container of the service, dead tasks' too (Swarm keeps the last few), with
        # everything it logged since the run began (Traefik's access log names the task that
        # served each request). `docker logs` per container: `docker service logs` took
        # minutes per service on a busy engine (measured: 120 s and nothing for `app`).
        listed = docker(
            "ps", "-a", "-q", "--filter", f"label=com.docker.swarm.service.name={name}", check=False
        ).split()
        parts = []
        for container in listed:
            command = ["docker", "logs", "--timestamps", "--since", STARTED, container]
            try:
                output = subprocess.run(command, capture_output=True, text=True, timeout=60)
                parts.append(f"=== container {container}\n{output.stdout}{output.stderr}")
            except subprocess.TimeoutExpired:
                parts.append(f"=== container {container}: docker logs timed out")
        (logs / f"{name.removeprefix(f'{STACK}_')}.log").write_text("\n".join(parts))
    log(f"the failed run's task states and service logs: {logs}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up")
    up_parser.add_argument("shape", choices=sorted(REPLICAS))
    commands.add_parser("down")
    commands.add_parser("integration")
    e2e_parser = commands.add_parser("e2e")
    e2e_parser.add_argument("steps", nargs="*", default=["update", "rollback", "scale", "heal", "secrets"])
    e2e_parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    options = parser.parse_args()
    if options.command == "up":
        up(options.shape)
        log(f"the API: {URL} (Traefik, host port {HTTP_PORT}); `make swarm-down` removes it")
    elif options.command == "down":
        down()
    elif options.command == "integration":
        integration()
    else:
        start = time.monotonic()
        try:
            e2e(set(options.steps))
        except BaseException:
            with contextlib.suppress(Exception):
                keep_logs()
            raise
        finally:
            if not options.keep:
                with timed("down"):
                    down()
            log(f"swarm-e2e: {time.monotonic() - start:.0f}s in all")


if __name__ == "__main__":
    main()
