"""What every fault scenario shares: a public-API client, a load generator that
classifies each answer, and the checks "every committed task has exactly one
notification and one analytics count" — all over HTTP, like a real client.

Answers are sorted into three bins:
- ok: 2xx;
- clean failure: 503 problem+json from a module, 502/503/504 from Traefik while a
  process is down, a refused connection (nothing was accepted), a timeout, or a
  connection closed or reset before the server read the request (the checks read the
  committed state back to prove nothing was applied);
- dirty: anything else (a 500, a dropped connection after the request was sent,
  an unexpected 4xx) — every test asserts there are none.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from entrypoints.split import Child, SplitStack, free_port, start_server, wait_ready

__all__ = [
    "FAST",
    "FAULT_TEST_TIMEOUT",
    "AllInOne",
    "Api",
    "Load",
    "Outcomes",
    "Team",
    "advancing",
    "eventually",
    "restart_module",
    "rss_bytes",
    "run_broker_pause",
]

T = TypeVar("T")
#: Quick heartbeats and relay polls, so the checks settle fast.
FAST = {
    "CTH_HEARTBEAT_INTERVAL_SECONDS": "1",
    "CTH_OUTBOX_POLL_INTERVAL_SECONDS": "0.5",
    "CTH_LOG_FORMAT": "text",
    "OTEL_SDK_DISABLED": "true",
}
PASSWORD = "correct horse battery staple"
PROBLEM_JSON = "application/problem+json"
#: How long an event may take from commit to a reader's view once every process is up.
EVENTUALLY = 90.0
#: pytest-timeout's guard for one fault test; the suite's default (120 s) is sized for unit
#: tests. A fault test's own deadlines (the team formed, the load sent, a process restarted,
#: then up to EVENTUALLY for every committed task to settle) add up to more than 120 s on a
#: busy machine, and a guard that fires first kills the test inside a poll, before it can
#: print its figures or say what is missing. This one only catches a hang.
FAULT_TEST_TIMEOUT = 600


def eventually(probe: Callable[[], T | None], what: str, timeout: float = EVENTUALLY) -> T:
    """Call `probe` until it returns something truthy; fail with the last value after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = probe()
        except (AssertionError, KeyError, ValueError, httpx.HTTPError) as error:
            result, last = None, error
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout:.0f}s: {what} (last: {last})")


def advancing(count: Callable[[], int], target: int, what: str, quiet: float = 60.0) -> int:
    """Wait until `count()` reaches `target` for as long as it keeps rising; fail once it has
    not moved for `quiet` seconds. For waits on a load's progress, whose pace is the
    machine's (a fixed deadline fails a slow machine, not a stuck system)."""
    last, moved = count(), time.monotonic()
    while last < target:
        time.sleep(0.25)  # polling interval; the deadline below ends the wait
        current = count()
        if current != last:
            last, moved = current, time.monotonic()
        elif time.monotonic() - moved > quiet:
            raise AssertionError(f"{what}: stuck at {last} of {target} for {quiet:.0f}s")
    return last


@dataclass
class Outcomes:
    """Thread-safe tally of answers, with a sample of each dirty one."""

    ok: int = 0
    clean: Counter[str] = field(default_factory=Counter)
    dirty: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def requests(self) -> int:
        return self.ok + sum(self.clean.values()) + len(self.dirty)

    def record(self, what: str, call: Callable[[], httpx.Response]) -> httpx.Response | None:
        try:
            response = call()
        except httpx.ConnectError:
            self._add(clean="connection refused")
            return None
        except httpx.TimeoutException as error:
            # The request may or may not have been applied; the checks read the
            # committed state back, so a timeout counts as a clean failure.
            self._add(clean=f"timeout ({type(error).__name__})")
            return None
        except httpx.RemoteProtocolError as error:
            if "without sending a response" not in str(error):
                self._add(dirty=f"{what}: {type(error).__name__}: {error}")
                return None
            # A connection the server accepted as it began shutting down and closed before
            # reading the request (uvicorn's shutdown closes connections with no request in
            # progress), or one a SIGKILLed process took with it. Like a timeout, the
            # committed state settles it: the shutdown test asserts tasks committed ==
            # requests answered 2xx, the crash tests that only these requests are unknown.
            self._add(clean="closed before a response")
            return None
        except httpx.ReadError as error:
            if "Connection reset by peer" not in str(error):
                self._add(dirty=f"{what}: {type(error).__name__}: {error}")
                return None
            # The same case as above when the request's bytes were still unread in the
            # socket: uvicorn's shutdown closes a connection whose request headers it has
            # not parsed (httptools_impl `shutdown`: no cycle yet), and closing a socket
            # with unread data sends a reset instead of a FIN. Such a request never reached
            # the app; the shutdown tests prove it (tasks committed == 2xx answers).
            self._add(clean="reset before a response")
            return None
        except httpx.HTTPError as error:
            self._add(dirty=f"{what}: {type(error).__name__}: {error}")
            return None
        if response.is_success:
            self._add()
        elif response.status_code == 503 and response.headers.get("content-type", "").startswith(
            PROBLEM_JSON
        ):
            self._add(clean="503 problem+json")
        elif response.status_code in (502, 504) or (
            response.status_code == 503
            and not response.headers.get("content-type", "").startswith("application")
        ):
            # Only Traefik answers these (its upstream is down); our processes never do.
            self._add(clean=f"{response.status_code} from Traefik")
        else:
            self._add(dirty=f"{what}: {response.status_code} {response.text[:200]}")
        return response

    @property
    def unknown(self) -> int:
        """Requests that may or may not have committed: cut off before an answer came
        (a killed process, a timeout, Traefik's 502/504 for an upstream that died)."""
        return sum(
            n
            for kind, n in self.clean.items()
            if kind == "closed before a response"
            or kind.startswith("timeout")
            or kind.endswith("from Traefik")
        )

    def assert_committed(self, committed: int) -> None:
        """Every 2xx answer was committed; beyond those, only requests of unknown outcome."""
        assert self.ok <= committed <= self.ok + self.unknown, (
            f"{committed} committed for {self.ok} answered 2xx and {self.unknown} of unknown outcome"
        )

    def _add(self, clean: str | None = None, dirty: str | None = None) -> None:
        with self._lock:
            if dirty is not None:
                self.dirty.append(dirty)
            elif clean is not None:
                self.clean[clean] += 1
            else:
                self.ok += 1

    def summary(self) -> str:
        clean = ", ".join(f"{n} {kind}" for kind, n in sorted(self.clean.items())) or "none"
        return f"{self.requests} requests: {self.ok} ok, clean failures: {clean}, dirty: {len(self.dirty)}"


@dataclass
class User:
    email: str
    id: str
    headers: dict[str, str]


class Api:
    """The public HTTP API, as a client sees it (Traefik or an all-in-one process)."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def register(self, name: str) -> User:
        return self.register_as(f"{name}-{uuid.uuid4().hex[:8]}@example.com")

    def register_as(self, email: str) -> User:
        name = email.split("@")[0]
        registered = self.http.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": name}
        )
        assert registered.status_code == 201, registered.text
        return self.login_as(email, registered.json()["id"])

    def login_as(self, email: str, user_id: str) -> User:
        tokens = self.http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        return User(email, user_id, {"Authorization": f"Bearer {tokens['access_token']}"})

    def get(self, path: str, user: User, **params: Any) -> Any:
        response = self.http.get(path, params=params or None, headers=user.headers)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
        return response.json()

    def all_pages(self, path: str, user: User, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = self.get(path, user, limit=100, **params, **({"cursor": cursor} if cursor else {}))
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if not cursor:
                return items


@dataclass
class Team:
    """An owner on the team plan with a project and assignees who are its members."""

    api: Api
    owner: User
    assignees: list[User]
    project: str

    @classmethod
    def form(cls, api: Api, assignees: int = 3) -> Team:
        owner = api.register("owner")
        people = [api.register(f"member{n}") for n in range(assignees)]
        upgraded = api.http.put("/api/v1/billing/subscription", json={"plan": "team"}, headers=owner.headers)
        assert upgraded.status_code == 200, upgraded.text
        project = eventually(
            lambda: _created(api.http.post("/api/v1/projects", json={"name": "Load"}, headers=owner.headers)),
            "the project module to know the owner",
        )["id"]
        # The loads create more tasks than the free plan's 100 a month, so wait until the
        # project module applies the team plan: the free plan allows 3 projects, a 4th
        # one is created only once billing's subscription_changed has reached it.
        for n in range(2, 5):
            eventually(
                lambda n=n: _created(  # type: ignore[misc]
                    api.http.post("/api/v1/projects", json={"name": f"Plan check {n}"}, headers=owner.headers)
                ),
                "the project module to apply the team plan",
            )
        for person in people:
            eventually(
                lambda person=person: (
                    api.http.post(  # type: ignore[misc]
                        f"/api/v1/projects/{project}/members",
                        json={"email": person.email, "role": "member"},
                        headers=owner.headers,
                    ).status_code
                    == 201
                ),
                "the project module to know a member",
            )
        return cls(api, owner, people, project)

    def create_task(self, n: int, outcomes: Outcomes, client: httpx.Client | None = None) -> None:
        assignee = self.assignees[n % len(self.assignees)]
        http = client or self.api.http
        response = outcomes.record(
            "create task",
            lambda: http.post(
                f"/api/v1/projects/{self.project}/tasks",
                json={"title": f"Task {n}", "assignee_id": assignee.id, "priority": "high"},
                headers=self.owner.headers,
            ),
        )
        if response is None or not response.is_success:
            time.sleep(0.1)  # a client backs off after a failure instead of spinning

    def committed_tasks(self) -> list[dict[str, Any]]:
        return self.api.all_pages(f"/api/v1/projects/{self.project}/tasks", self.owner)

    def assignment_notifications(self) -> Counter[str]:
        """Task id -> how many task_assigned notifications exist for it, over every assignee."""
        seen: Counter[str] = Counter()
        for person in self.assignees:
            for notification in self.api.all_pages("/api/v1/notifications", person):
                if notification["kind"] == "task_assigned":
                    seen[notification["subject_id"]] += 1
        return seen

    def analytics_total(self) -> int:
        summary = self.api.get(f"/api/v1/analytics/projects/{self.project}/summary", self.owner)
        return int(sum(summary["tasks_by_status"].values()))

    def billed_tasks(self) -> int:
        return int(self.api.get("/api/v1/billing/usage", self.owner)["tasks_created"])

    def verify_exactly_once(self, label: str, quiet: float = EVENTUALLY) -> dict[str, int]:
        """Wait until every committed task is counted once everywhere, then prove none is doubled.

        The wait ends when the counts stop moving for `quiet` seconds, not at a fixed time
        after the load: how long a backlog takes to drain depends on the CPU the machine
        leaves the consumers, while a lost event shows as counts that stop short. A busy
        machine then makes the test slower, not red, and a loss still fails it (with the
        counts it stopped at and how long they had not moved).
        """
        committed = self.committed_tasks()
        tasks = {t["id"] for t in committed}
        assigned = {t["id"] for t in committed if t["assignee_id"] not in (None, self.owner.id)}
        started = time.monotonic()
        last: tuple[int, int, int] | None = None
        moved = started
        while True:
            try:
                counts = (
                    sum(self.assignment_notifications().values()),
                    self.analytics_total(),
                    self.billed_tasks(),
                )
            except (AssertionError, httpx.HTTPError):
                counts = last or (0, 0, 0)
            if counts[0] >= len(assigned) and min(counts[1:]) >= len(tasks):
                break
            now = time.monotonic()
            if counts != last:
                last, moved = counts, now
            elif now - moved > quiet:
                print(f"{label}: counts {counts} unchanged for {now - moved:.0f}s")
                break
            time.sleep(0.25)  # polling interval; the deadline above ends the wait
        waited = time.monotonic() - started
        seen = self.assignment_notifications()
        figures = {
            "tasks committed": len(tasks),
            "notifications expected": len(assigned),
            "notifications seen": sum(seen.values()),
            "analytics count": self.analytics_total(),
            "billing count": self.billed_tasks(),
        }
        print(f"{label}: {figures}, settled after {waited:.1f}s")
        assert {t: n for t, n in seen.items() if n != 1} == {}, "doubled notifications"
        assert set(seen) == assigned, (
            f"missing: {len(assigned - set(seen))}, unknown: {len(set(seen) - assigned)}"
        )
        assert figures["analytics count"] == len(tasks)
        assert figures["billing count"] == len(tasks)
        return figures


def _created(response: httpx.Response) -> dict[str, Any] | None:
    return response.json() if response.status_code == 201 else None


class Load:
    """Runs `work(n, outcomes, client)` for n = 0.. on `threads` threads, until stopped or `total` reached."""

    def __init__(
        self,
        base_url: str,
        work: Callable[[int, Outcomes, httpx.Client], None],
        *,
        threads: int = 4,
        total: int | None = None,
        fresh_connections: bool = False,
    ) -> None:
        self.base_url = base_url
        self.work = work
        self.threads = threads
        self.total = total
        self.fresh = fresh_connections
        self.outcomes = Outcomes()
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Any] = []

    @property
    def issued(self) -> int:
        return self._next

    def _take(self) -> int | None:
        with self._lock:
            if self._stop.is_set() or (self.total is not None and self._next >= self.total):
                return None
            self._next += 1
            return self._next - 1

    def _run(self) -> None:
        headers = {"Connection": "close"} if self.fresh else None
        with httpx.Client(base_url=self.base_url, timeout=30.0, headers=headers) as client:
            while (n := self._take()) is not None:
                self.work(n, self.outcomes, client)

    def __enter__(self) -> Load:
        self._pool = ThreadPoolExecutor(self.threads)
        self._futures = [self._pool.submit(self._run) for _ in range(self.threads)]
        return self

    def wait(self) -> None:
        for future in self._futures:
            future.result()

    def stop(self) -> None:
        self._stop.set()
        self.wait()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        assert self._pool is not None
        self._pool.shutdown()


class AllInOne:
    """One `serve --modules all` process on a fixed port (SQLite in `data_dir` unless `env`
    says otherwise); a test may signal or kill it and `start` it again on the same data."""

    def __init__(self, data_dir: Path, env: Mapping[str, str]) -> None:
        self.env = {
            **FAST,
            "CTH_DATA_DIR": str(data_dir),
            "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'cloudtaskhub.db'}",
            **env,
        }
        self.logs = data_dir / "logs"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        metrics_port = free_port()
        #: Where Prometheus would scrape (CTH_METRICS_PORT); the app's port has no /metrics.
        self.metrics_url = f"http://127.0.0.1:{metrics_port}"
        self.env.setdefault("CTH_METRICS_PORT", str(metrics_port))
        self._child: Child | None = None

    @property
    def child(self) -> Child:
        """The process last started."""
        if self._child is None:
            raise RuntimeError("the all-in-one process was never started")
        return self._child

    def start(self) -> Child:
        child = start_server("all", self.port, self.env, self.logs, name="all-in-one")
        try:
            wait_ready(child, self.url, timeout=90)
        except BaseException:
            child.stop()
            raise
        self._child = child
        return child

    def stop(self) -> None:
        if self._child is not None:
            self._child.stop()


def restart_module(stack: SplitStack, module: str) -> Child:
    """Start `module` again on its old port (Traefik keeps routing there)."""
    old = stack.servers[module]
    upstream = stack.upstreams[module]
    port = int(upstream.rsplit(":", 1)[1])
    child = start_server(module, port, stack.module_environment(module), stack.run_dir / "logs")
    stack.children[stack.children.index(old)] = child
    stack.servers[module] = child
    wait_ready(child, upstream, timeout=60)
    return child


def rss_bytes(pid: int) -> int:
    """Resident set size of `pid` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise LookupError(f"no VmRSS for {pid}")


@contextlib.contextmanager
def paused(child: Child, seconds: float) -> Iterator[None]:
    """SIGSTOP `child` on entry; SIGCONT it once `seconds` have passed and the block ended."""
    import signal

    child.signal(signal.SIGSTOP)
    resume_at = time.monotonic() + seconds
    try:
        yield
        remaining = resume_at - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)  # the fault's length is the point here, not a wait for a state
    finally:
        child.signal(signal.SIGCONT)


def run_broker_pause(url: str, broker: Child, tasks: int, pause: float) -> None:
    """Create `tasks` tasks with assignees; stall the broker for `pause` seconds a fifth of
    the way in. The broker is not on the request path: every request succeeds, and every
    committed task is notified and counted exactly once after the broker resumes."""
    api = Api(url)
    team = Team.form(api)
    with Load(url, lambda n, outcomes, http: team.create_task(n, outcomes, http), total=tasks) as load:
        advancing(lambda: load.issued, tasks // 5, "the first fifth of the tasks")
        at_pause, started = load.issued, time.monotonic()
        with paused(broker, pause):
            pass
        stopped_for, at_resume = time.monotonic() - started, load.issued
        load.wait()
    print(
        f"broker stopped {stopped_for:.0f}s; {load.outcomes.summary()}; "
        f"requests issued while it was stopped: {at_resume - at_pause}"
    )

    assert load.outcomes.dirty == []
    assert load.outcomes.ok == tasks
    assert team.verify_exactly_once("broker pause")["tasks committed"] == tasks
    api.close()
