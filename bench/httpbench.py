"""HTTP: our list endpoint and task creation against the bare Litestar floor and
the FastAPI toy, all served by one uvicorn worker on the server CPU. On PostgreSQL the
database's backends run on the load CPU (`bench/pin_backends.py`): the database is another
machine's work, not a share of the server's core."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    Server,
    cloudtaskhub_server,
    database_backends_on_load_cpu,
    figure,
    free_port,
    not_measured,
    peer_server,
    rss_mib,
)
from bench.load import LoadResult, NoCompletedRequests, wrk
from bench.scenario import Dataset, create_dataset, list_path

#: Requests in flight during every HTTP run (one wrk thread, keep-alive).
CONNECTIONS = 16
#: Connections of the p99 run the issue sets a goal for (list p99 < 100 ms at 50).
WIDE = 50


def aio_environment(directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "CTH_DATA_DIR": str(directory),
        "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'cloudtaskhub.db'}",
        "CTH_LOG_LEVEL": "WARNING",
        "CTH_LOG_FORMAT": "text",
        "CTH_ACCESS_TOKEN_TTL_SECONDS": "3600",
        # A throwaway database: create_all, independent of migration revisions in flux.
        "CTH_DB_BOOTSTRAP": "create",
    }


def start_all_in_one(directory: Path, logs: Path, name: str = "all-in-one") -> Server:
    server = cloudtaskhub_server(name, free_port(), logs, aio_environment(directory))
    server.wait_ready("/health/ready")
    return server


#: CPU seconds each load run cost its server (utime + stime of the process and its threads).
_CPU: dict[int, float] = {}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _load(result: LoadResult) -> dict[str, Any]:
    summary = result.summary()
    cpu = _CPU.get(id(result))
    if cpu is not None and result.requests:
        # Robust to a busy machine where req/s is not: what one request costs the server's core.
        summary["server_cpu_ms_per_request"] = round(cpu * 1000 / result.requests, 3)
    return summary


def _check(name: str, result: LoadResult) -> None:
    if result.failed:
        raise RuntimeError(f"{name}: {result.errors} errors in {result.requests} requests")


def reset_http_database(url: str) -> str | None:
    """A database of the HTTP bench's own on the server at `url`, emptied; None when unreachable."""
    import asyncio

    import asyncpg

    from bench.events import postgres_url

    database = url.rsplit("/", 1)[1] + "_http"
    own = asyncio.run(postgres_url(url.rsplit("/", 1)[0] + "/" + database))
    if own is None:
        return None

    async def empty() -> None:
        connection = await asyncpg.connect(own.replace("postgresql+asyncpg", "postgresql"), timeout=5)
        try:
            await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await connection.close()

    asyncio.run(empty())
    return own


def _versus(
    ours: LoadResult | str, baseline: LoadResult, baseline_name: str, **details: Any
) -> dict[str, Any]:
    if isinstance(ours, str):
        return not_measured(ours, "requests/s")
    return figure(
        ours.rps,
        baseline.rps,
        "requests/s",
        baseline_name=baseline_name,
        better="higher",
        details={"ours": _load(ours), "baseline": _load(baseline), **details},
    )


def run(
    workdir: Path, logs: Path, seconds: float, pg_url: str | None = None
) -> tuple[dict[str, Any], dict[str, Any], Server, Dataset]:
    """Figures, footprint facts, and the still-running all-in-one server with its data."""
    aio = start_all_in_one(workdir / "aio", logs)
    dataset = create_dataset(aio.url)
    auth = [dataset.owner.header_line]
    page = httpx.get(aio.url + list_path(dataset), headers=dataset.owner.headers, timeout=10).json()
    assert len(page["items"]) == 20
    assert page["next_cursor"]
    documents = {
        "BENCH_PAGE_FILE": page,
        "BENCH_TASK_FILE": httpx.get(
            f"{aio.url}/api/v1/tasks/{dataset.task_id}", headers=dataset.owner.headers, timeout=10
        ).json(),
        "BENCH_DASHBOARD_FILE": httpx.get(
            f"{aio.url}/api/v1/dashboard", headers=dataset.owner.headers, timeout=10
        ).json(),
    }
    files = {}
    for variable, document in documents.items():
        files[variable] = str(workdir / f"{variable.lower()}.json")
        Path(files[variable]).write_text(json.dumps(document))
    peers: dict[str, Server] = {}
    results: dict[str, LoadResult | str] = {}
    try:
        for name in ("bare_litestar", "fastapi_toy"):
            peers[name] = peer_server(name, name, free_port(), logs, files)
            peers[name].wait_ready("/health/ready")
        floor_files = {**files, "BENCH_FLOOR_DB": str(workdir / "durable-floor.db")}
        floor_peer = peers["durable_floor"] = peer_server(
            "durable_floor", "durable_floor", free_port(), logs, floor_files
        )
        floor_peer.wait_ready("/health/ready")
        for name in ("bare_litestar", "fastapi_toy"):  # the floor answers no GET /tasks
            server = peers[name]
            body = httpx.get(server.url + "/tasks", timeout=10).json()
            assert body == page, f"{name} does not answer the same page"
        bare_url = peers["bare_litestar"].url

        pids = {server.url: server.process.pid for server in (aio, *peers.values())}

        def load(
            name: str,
            url: str,
            script: str = "get.lua",
            connections: int = CONNECTIONS,
            headers: list[str] = auth,
            pid: int | None = None,
        ) -> None:
            pid = pid or next(p for u, p in pids.items() if url.startswith(u + "/"))
            with contextlib.suppress(NoCompletedRequests):  # warm-up: discarded either way
                wrk(url, script, seconds=1.0, connections=connections, headers=headers, warmup=0)
            try:
                before = cpu_seconds(pid)
                result = wrk(url, script, seconds=seconds, connections=connections, headers=headers, warmup=0)
                _CPU[id(result)] = cpu_seconds(pid) - before
                results[name] = result
            except NoCompletedRequests as error:
                results[name] = str(error)

        load("list", aio.url + list_path(dataset))
        load("bare", bare_url + "/tasks")
        load("toy", peers["fastapi_toy"].url + "/tasks")
        load("get", f"{aio.url}/api/v1/tasks/{dataset.task_id}")
        load("bare get", f"{bare_url}/tasks/{dataset.task_id}")
        load("dashboard", f"{aio.url}/api/v1/dashboard")
        load("bare dashboard", f"{bare_url}/dashboard")
        load("list at 50", aio.url + list_path(dataset), connections=WIDE)
        load("bare at 50", bare_url + "/tasks", connections=WIDE)
        load("post", f"{aio.url}/api/v1/projects/{dataset.write_project}/tasks", "post_task.lua")
        load("bare post", bare_url + "/tasks", "post_task.lua")
        load("floor post", floor_peer.url + "/tasks", "post_task.lua")
        load("floor fanout post", floor_peer.url + "/tasks/fanout", "post_task.lua")
        if pg_url is not None:
            _postgres(workdir, logs, pg_url, load, files)
        for name, result in results.items():
            if isinstance(result, LoadResult):
                _check(name, result)
        footprint = {
            "aio_rss_mib": rss_mib(aio.process.pid),
            "bare_rss_mib": rss_mib(peers["bare_litestar"].process.pid),
            "fastapi_rss_mib": rss_mib(peers["fastapi_toy"].process.pid),
            "aio_ready_s": aio.ready_after,
            "bare_ready_s": peers["bare_litestar"].ready_after,
        }
    finally:
        for server in peers.values():
            server.stop()

    bare, bare_post = _result(results["bare"]), _result(results["bare post"])
    floor = "bare Litestar endpoint returning the same page from memory"
    figures = {
        "http.list_tasks.vs_bare_litestar": _versus(
            results["list"],
            bare,
            floor,
            p99_ratio=round(results["list"].p99_ms / bare.p99_ms, 2)
            if isinstance(results["list"], LoadResult)
            else None,
        ),
        "http.list_tasks.vs_fastapi_toy": _versus(
            results["list"],
            _result(results["toy"]),
            "FastAPI toy returning the same page from memory (bench/peers/fastapi_toy.py)",
        ),
        "http.get_task.vs_bare_litestar": _versus(
            results["get"], _result(results["bare get"]), "bare Litestar returning the same task from memory"
        ),
        "http.dashboard.vs_bare_litestar": _versus(
            results["dashboard"],
            _result(results["bare dashboard"]),
            "bare Litestar returning the same dashboard from memory",
        ),
        "http.list_tasks.p99_at_50_connections": _p99(results["list at 50"], _result(results["bare at 50"])),
        "http.create_task.vs_bare_litestar": _versus(
            results["post"], bare_post, "bare Litestar POST parsing the same body, no database"
        ),
        "http.create_task.vs_durable_floor": _versus(
            results["post"],
            _result(results["floor fanout post"]),
            "bare Litestar POST committing the body to SQLite, then one row in each of four more "
            "transactions (stdlib sqlite3, bench/peers/durable_floor.py)",
            one_commit=_load(_result(results["floor post"])),
            floor_vs_bare_post={
                "one_commit": round(_result(results["floor post"]).rps / bare_post.rps, 3),
                "five_commits": round(_result(results["floor fanout post"]).rps / bare_post.rps, 3),
            },
        ),
    }
    if pg_url is not None:
        figures["http.list_tasks_postgres.vs_bare_litestar"] = _versus(
            results.get("pg list", "PostgreSQL not reachable"), bare, floor
        )
        figures["http.get_task_postgres.vs_bare_litestar"] = _versus(
            results.get("pg get", "PostgreSQL not reachable"),
            _result(results["bare get"]),
            "bare Litestar returning the same task from memory",
        )
        figures["http.dashboard_postgres.vs_bare_litestar"] = _versus(
            results.get("pg dashboard", "PostgreSQL not reachable"),
            _result(results["bare dashboard"]),
            "bare Litestar returning the same dashboard from memory",
        )
        figures["http.create_task_postgres.vs_bare_litestar"] = _versus(
            results.get("pg post", "PostgreSQL not reachable"),
            bare_post,
            "bare Litestar POST parsing the same body, no database",
        )
        pg_floor = results.get("pg floor fanout post")
        if isinstance(pg_floor, LoadResult):
            figures["http.create_task_postgres.vs_durable_floor"] = _versus(
                results.get("pg post", "PostgreSQL not reachable"),
                pg_floor,
                "bare Litestar POST INSERTing the body into PostgreSQL, then one row for each of "
                "four read models, each INSERT its own transaction (asyncpg, "
                "bench/peers/durable_floor_pg.py)",
                floor_vs_bare_post=round(pg_floor.rps / bare_post.rps, 3),
            )
    return figures, footprint, aio, dataset


def _result(result: LoadResult | str) -> LoadResult:
    if isinstance(result, str):
        raise RuntimeError(f"a peer answered nothing: {result}")
    return result


def _p99(ours: LoadResult | str, baseline: LoadResult) -> dict[str, Any]:
    if isinstance(ours, str):
        return not_measured(ours, "ms")
    return figure(
        ours.p99_ms,
        baseline.p99_ms,
        "ms",
        baseline_name=f"bare Litestar list from memory, {WIDE} connections",
        better="lower",
        details={"ours": _load(ours), "baseline": _load(baseline), "goal_ms": 100},
    )


def _postgres(workdir: Path, logs: Path, pg_url: str, load: Any, files: dict[str, str]) -> None:
    """The list, one task, the dashboard and the create against the same all-in-one process
    on PostgreSQL; then the durable floor's fan-out POST in the same database."""
    url = reset_http_database(pg_url)
    if url is None:
        return
    environment = aio_environment(workdir / "aio-pg") | {"CTH_DATABASE_URL": url}
    server = cloudtaskhub_server("all-in-one-pg", free_port(), logs, environment)
    try:
        with database_backends_on_load_cpu(url):
            server.wait_ready("/health/ready")
            dataset = create_dataset(server.url, tag="bench-pg")
            auth = [dataset.owner.header_line]
            pid = server.process.pid
            load("pg list", server.url + list_path(dataset), headers=auth, pid=pid)
            load("pg get", f"{server.url}/api/v1/tasks/{dataset.task_id}", headers=auth, pid=pid)
            load("pg dashboard", f"{server.url}/api/v1/dashboard", headers=auth, pid=pid)
            load(
                "pg post",
                f"{server.url}/api/v1/projects/{dataset.write_project}/tasks",
                "post_task.lua",
                headers=auth,
                pid=pid,
            )
            server.stop()
            floor_files = {**files, "BENCH_FLOOR_PG_URL": url.replace("postgresql+asyncpg", "postgresql")}
            server = peer_server("durable_floor_pg", "durable_floor_pg", free_port(), logs, floor_files)
            server.wait_ready("/health/ready")
            load(
                "pg floor fanout post", server.url + "/tasks/fanout", "post_task.lua", pid=server.process.pid
            )
    finally:
        server.stop()
        reset_http_database(pg_url)


def run_create(workdir: Path, logs: Path, seconds: float, pg_url: str | None = None) -> dict[str, Any]:
    """The create figures alone (`--only-create`): the all-in-one create on SQLite (and on
    PostgreSQL at `pg_url`) and the bare POST, loaded as `run` loads them, in one run."""
    aio = start_all_in_one(workdir / "aio", logs)
    bare: Server | None = None
    pg: Server | None = None
    results: dict[str, LoadResult | str] = {}
    try:
        dataset = create_dataset(aio.url)
        page = httpx.get(aio.url + list_path(dataset), headers=dataset.owner.headers, timeout=10).json()
        (workdir / "page.json").write_text(json.dumps(page))
        files = {"BENCH_PAGE_FILE": str(workdir / "page.json")}
        bare = peer_server("bare_litestar", "bare_litestar", free_port(), logs, files)
        bare.wait_ready("/health/ready")
        targets = [
            ("post", f"{aio.url}/api/v1/projects/{dataset.write_project}/tasks", aio, dataset),
            ("bare post", bare.url + "/tasks", bare, dataset),
        ]
        pg_database = None if pg_url is None else reset_http_database(pg_url)
        if pg_database is not None:
            environment = aio_environment(workdir / "aio-pg") | {"CTH_DATABASE_URL": pg_database}
            pg = cloudtaskhub_server("all-in-one-pg", free_port(), logs, environment)
            pg.wait_ready("/health/ready")
            pg_data = create_dataset(pg.url, tag="bench-pg")
            targets.append(
                ("pg post", f"{pg.url}/api/v1/projects/{pg_data.write_project}/tasks", pg, pg_data)
            )
        with database_backends_on_load_cpu(pg_database):
            for name, url, server, data in targets:
                headers = [data.owner.header_line]
                with contextlib.suppress(NoCompletedRequests):
                    wrk(url, "post_task.lua", seconds=1.0, connections=CONNECTIONS, headers=headers, warmup=0)
                before = cpu_seconds(server.process.pid)
                result = wrk(
                    url, "post_task.lua", seconds=seconds, connections=CONNECTIONS, headers=headers, warmup=0
                )
                _CPU[id(result)] = cpu_seconds(server.process.pid) - before
                _check(name, result)
                results[name] = result
    finally:
        for server in (aio, bare, pg):
            if server is not None:
                server.stop()
        if pg is not None and pg_url is not None:
            reset_http_database(pg_url)
    baseline = _result(results["bare post"])
    name = "bare Litestar POST parsing the same body, no database"
    figures = {"http.create_task.vs_bare_litestar": _versus(results["post"], baseline, name)}
    if "pg post" in results:
        figures["http.create_task_postgres.vs_bare_litestar"] = _versus(results["pg post"], baseline, name)
    return figures


def main() -> None:
    """`python -m bench.httpbench`: the HTTP figures alone (SQLite, and PostgreSQL at --pg-url)."""
    import argparse
    import tempfile

    from bench.common import pin_server_side
    from bench.report import LABELS

    parser = argparse.ArgumentParser(prog="python -m bench.httpbench")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument(
        "--only-create", action="store_true", help="the create figures and the bare POST only"
    )
    arguments = parser.parse_args()
    pin_server_side()
    with tempfile.TemporaryDirectory(prefix="cth-httpbench-") as temporary:
        workdir = Path(temporary)
        if arguments.only_create:
            figures = run_create(workdir, workdir / "logs", arguments.seconds, arguments.pg_url)
        else:
            figures, _, aio, _ = run(workdir, workdir / "logs", arguments.seconds, arguments.pg_url)
            aio.stop()
    for key, item in figures.items():
        if item.get("not_measured"):
            print(f"{LABELS.get(key, key)}: not measured: {item['not_measured']}")
        else:
            details = item.get("details", {})
            cpu = [details.get(side, {}).get("server_cpu_ms_per_request") for side in ("ours", "baseline")]
            print(
                f"{LABELS.get(key, key)}: {item['value']} vs {item['baseline']} = {item['ratio']}x"
                f"  (server CPU ms/request: {cpu[0]} vs {cpu[1]})"
            )
    if arguments.out:
        arguments.out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
