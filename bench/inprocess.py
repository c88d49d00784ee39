"""`python -m bench.inprocess [--pg-url URL] [--requests N] [--count-statements]`:
CPU per request of the hot endpoints, in-process, without HTTP.

The all-in-one app (all six modules) is built in this process and called through
its ASGI interface directly — no socket, no HTTP parser, no client library — so the
figure is what our code and Litestar cost per request. It is read as process CPU
time (every thread: the loop, aiosqlite's workers, the in-process event handlers)
over N sequential requests, which stays comparable on a machine whose load makes
wall-clock rates useless. The create waits until the event pipeline has settled
(its handlers' work belongs to the create) before it reads the clock.

`--count-statements` also counts the SQL statements each request caused (every
engine of the process, the event pipeline included), grouped by their text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Engine, event
from sqlalchemy.engine.default import CACHE_MISS

from bench.scenario import PASSWORD

#: --cprofile DIR: a cProfile of each endpoint's measured requests, DIR/<name>.prof.
PROFILE_DIR: Path | None = None
#: --concurrency N: requests in flight at once (1: sequential). With more, the create's
#: event handlers run beside the next requests and take batches, as under wrk.
CONCURRENCY = 1

Call = Callable[[], Awaitable[tuple[int, bytes]]]


class Driver:
    """Calls the ASGI app with a minimal HTTP scope, as a server would."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, bytes]:
        raw_path, _, query = path.partition("?")
        payload = b"" if body is None else msgspec.json.encode(body)
        headers = [(b"host", b"bench"), (b"content-type", b"application/json")]
        if payload:
            headers.append((b"content-length", str(len(payload)).encode()))
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await asyncio.Event().wait()  # a client that stays connected
            raise AssertionError

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)

    async def ok(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        status, content = await self.request(method, path, body, token)
        if status >= 400:
            raise RuntimeError(f"{method} {path}: {status} {content[:300]!r}")
        return json.loads(content) if content else None

    async def eventually(self, method: str, path: str, body: Any, token: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            status, content = await self.request(method, path, body, token)
            if status < 400:
                return json.loads(content)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {path}: {status} {content[:300]!r}")
            await asyncio.sleep(0.05)


async def account(driver: Driver, email: str) -> tuple[str, str]:
    user = await driver.ok(
        "POST", "/api/v1/auth/register", {"email": email, "password": PASSWORD, "display_name": "B"}
    )
    login = await driver.ok("POST", "/api/v1/auth/login", {"email": email, "password": PASSWORD})
    return user["id"], login["access_token"]


async def dataset(driver: Driver) -> dict[str, str]:
    """The same shape as bench.scenario.create_dataset: a 30-task project, a write project."""
    _, token = await account(driver, "bench-owner@example.com")
    _, member = await account(driver, "bench-member@example.com")
    await driver.ok("PUT", "/api/v1/billing/subscription", {"plan": "team"}, token)
    for number in range(1, 5):  # the free plan allows 3 projects: a 4th one means the plan arrived
        await driver.eventually("POST", "/api/v1/projects", {"name": f"Plan check {number}"}, token)
    listed = (await driver.ok("POST", "/api/v1/projects", {"name": "Bench list"}, token))["id"]
    written = (await driver.ok("POST", "/api/v1/projects", {"name": "Bench writes"}, token))["id"]
    for project in (listed, written):
        await driver.eventually(
            "POST",
            f"/api/v1/projects/{project}/members",
            {"email": "bench-member@example.com", "role": "member"},
            token,
        )
    first = ""
    for number in range(30):
        created = await driver.ok(
            "POST",
            f"/api/v1/projects/{listed}/tasks",
            {
                "title": f"Task {number:03d}: write the quarterly report",
                "description": "Collect the numbers, draft, review with the team.",
                "priority": ("low", "medium", "high", "urgent")[number % 4],
                "labels": ["bench", f"group-{number % 5}"],
                "due_date": f"2030-01-{1 + number % 28:02d}",
            },
            token,
        )
        first = first or created["id"]
    return {"token": token, "member": member, "list": listed, "write": written, "task": first}


class Statements:
    """Counts the statements every engine of this process executes, by text."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        #: Statements SQLAlchemy compiled again (a miss in the engine's compiled cache).
        self.compiled: Counter[str] = Counter()
        self.on = False
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(
        self, _connection: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, *_: Any
    ) -> None:
        if self.on:
            text = " ".join(statement.split())[:160]
            self.counts[text] += 1
            if context is not None and context.compiled is not None and context.cache_hit is CACHE_MISS:
                self.compiled[text] += 1


async def settle(quiet_seconds: float = 0.3, timeout: float = 60) -> None:
    """Wait until the process's CPU time stops moving (the event pipeline is idle)."""
    deadline = time.monotonic() + timeout
    last = time.process_time()
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet_seconds)
        now = time.process_time()
        if now - last < quiet_seconds * 0.02:
            return
        last = now


async def measure(
    name: str, call: Call, requests: int, statements: Statements | None, *, writes: bool = False
) -> dict[str, Any]:
    for _ in range(max(20, requests // 10)):  # warm-up: caches, compiled statements
        status, body = await call()
        assert status < 400, (name, status, body[:300])
    if writes:
        await settle()
    if statements is not None:
        statements.counts.clear()
        statements.compiled.clear()
        statements.on = True
    profiler = None
    if PROFILE_DIR is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started_cpu, started_wall = time.process_time(), time.perf_counter()
    remaining = requests

    async def client() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            status, body = await call()
            assert status < 400, (name, status, body[:300])

    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    if writes:
        await settle()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(PROFILE_DIR / f"{name}.prof"))
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started_wall
    result: dict[str, Any] = {
        "requests": requests,
        "cpu_us_per_request": round(cpu * 1e6 / requests, 1),
        "wall_ms_per_request_sequential": round(wall * 1e3 / requests, 3),
    }
    if CONCURRENCY > 1:
        result["concurrency"] = CONCURRENCY
    if statements is not None:
        statements.on = False
        result["statements_per_request"] = round(sum(statements.counts.values()) / requests, 1)
        result["statements_top"] = {
            text: round(count / requests, 2) for text, count in statements.counts.most_common(25)
        }
        result["compiled_per_request"] = round(sum(statements.compiled.values()) / requests, 2)
        result["compiled_top"] = {
            text: round(count / requests, 2) for text, count in statements.compiled.most_common(10)
        }
    return result


async def run(
    database_url: str, data_dir: Path, requests: int, count: bool, only: set[str]
) -> dict[str, Any]:
    from cloudtaskhub.app import create_app
    from entrypoints.registry import ALL_MODULES

    environ = {
        "CTH_DATA_DIR": str(data_dir),
        "CTH_DATABASE_URL": database_url,
        "CTH_LOG_LEVEL": "WARNING",
        "CTH_LOG_FORMAT": "text",
        "CTH_ACCESS_TOKEN_TTL_SECONDS": "3600",
        "CTH_DB_BOOTSTRAP": "create",
    }
    os.environ.update(environ)
    app = create_app(list(ALL_MODULES), environ=environ)
    statements = Statements() if count else None
    driver = Driver(app)
    results: dict[str, Any] = {}
    async with app.lifespan():
        data = await dataset(driver)
        await settle()
        token = data["token"]
        body = {
            "title": "Benchmark task",
            "description": "Created by the load generator",
            "priority": "high",
            "labels": ["bench", "load"],
        }
        calls: dict[str, tuple[Call, bool]] = {
            "list": (
                lambda: driver.request("GET", f"/api/v1/projects/{data['list']}/tasks?limit=20", token=token),
                False,
            ),
            "get": (lambda: driver.request("GET", f"/api/v1/tasks/{data['task']}", token=token), False),
            "dashboard": (lambda: driver.request("GET", "/api/v1/dashboard", token=token), False),
            "project_list": (lambda: driver.request("GET", "/api/v1/projects", token=token), False),
            "health": (lambda: driver.request("GET", "/health/live"), False),
            "create": (
                lambda: driver.request("POST", f"/api/v1/projects/{data['write']}/tasks", body, token),
                True,
            ),
        }
        for name, (call, writes) in calls.items():
            if only and name not in only:
                continue
            n = max(requests // 4, 50) if writes else requests
            results[name] = await measure(name, call, n, statements, writes=writes)
            print(name, {k: v for k, v in results[name].items() if not k.endswith("_top")}, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess")
    parser.add_argument("--pg-url", default=None, help="PostgreSQL (emptied first) instead of SQLite")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--count-statements", action="store_true")
    parser.add_argument("--only", default="", help="comma-separated endpoints")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--cprofile", type=Path, default=None, help="directory for <endpoint>.prof files")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight at once")
    arguments = parser.parse_args()
    global CONCURRENCY, PROFILE_DIR
    CONCURRENCY = max(1, arguments.concurrency)
    if arguments.cprofile:
        arguments.cprofile.mkdir(parents=True, exist_ok=True)
        PROFILE_DIR = arguments.cprofile
    with tempfile.TemporaryDirectory(prefix="cth-inprocess-") as temporary:
        data_dir = Path(temporary)
        if arguments.pg_url:
            from tests.conftest import reset_postgres

            asyncio.run(reset_postgres(arguments.pg_url))
            url = arguments.pg_url
        else:
            url = f"sqlite+aiosqlite:///{data_dir / 'cloudtaskhub.db'}"
        only = {n for n in arguments.only.split(",") if n}
        results = {
            "database": url.split(":", 1)[0],
            "loadavg": [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]],
            "endpoints": asyncio.run(
                run(url, data_dir, arguments.requests, arguments.count_statements, only)
            ),
        }
    if arguments.count_statements:
        for name, item in results["endpoints"].items():
            print(f"\n{name}: {item.get('statements_per_request')} statements/request")
            for text, per in item.get("statements_top", {}).items():
                print(f"  {per:6.2f}  {text}")
            print(
                f"{name}: {item.get('compiled_per_request')} compiled again/request (compiled-cache misses)"
            )
            for text, per in item.get("compiled_top", {}).items():
                print(f"  {per:6.2f}  {text}")
    if arguments.out:
        arguments.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
