"""HTTP: our list endpoint and task creation against the bare Litestar floor and
the FastAPI toy, all served by one uvicorn worker on the server CPU."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from bench.common import Server, cloudtaskhub_server, figure, free_port, not_measured, peer_server, rss_mib
from bench.load import LoadResult, NoCompletedRequests, wrk
from bench.scenario import Dataset, create_dataset, list_path

#: Requests in flight during every HTTP run (one wrk thread, keep-alive).
CONNECTIONS = 16


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


def _load(result: LoadResult) -> dict[str, Any]:
    return result.summary()


def _check(name: str, result: LoadResult) -> None:
    if result.failed:
        raise RuntimeError(f"{name}: {result.errors} errors in {result.requests} requests")


def run(workdir: Path, logs: Path, seconds: float) -> tuple[dict[str, Any], dict[str, Any], Server, Dataset]:
    """Figures, footprint facts, and the still-running all-in-one server with its data."""
    aio = start_all_in_one(workdir / "aio", logs)
    dataset = create_dataset(aio.url)
    page = httpx.get(aio.url + list_path(dataset), headers=dataset.owner.headers, timeout=10).json()
    assert len(page["items"]) == 20
    assert page["next_cursor"]
    page_file = workdir / "page.json"
    page_file.write_text(json.dumps(page))
    peers: dict[str, Server] = {}
    try:
        for name in ("bare_litestar", "fastapi_toy"):
            peers[name] = peer_server(name, name, free_port(), logs, {"BENCH_PAGE_FILE": str(page_file)})
            peers[name].wait_ready("/health/ready")
        for name, server in peers.items():
            body = httpx.get(server.url + "/tasks", timeout=10).json()
            assert body == page, f"{name} does not answer the same page"

        auth = [dataset.owner.header_line]
        ours = wrk(
            aio.url + list_path(dataset), "get.lua", seconds=seconds, connections=CONNECTIONS, headers=auth
        )
        bare = wrk(
            peers["bare_litestar"].url + "/tasks",
            "get.lua",
            seconds=seconds,
            connections=CONNECTIONS,
            headers=auth,
        )
        toy = wrk(
            peers["fastapi_toy"].url + "/tasks",
            "get.lua",
            seconds=seconds,
            connections=CONNECTIONS,
            headers=auth,
        )
        created: LoadResult | str
        try:
            created = wrk(
                f"{aio.url}/api/v1/projects/{dataset.write_project}/tasks",
                "post_task.lua",
                seconds=seconds,
                connections=CONNECTIONS,
                headers=auth,
            )
        except NoCompletedRequests as error:
            created = str(error)
        bare_post = wrk(
            peers["bare_litestar"].url + "/tasks",
            "post_task.lua",
            seconds=seconds,
            connections=CONNECTIONS,
            headers=auth,
        )
        for name, result in (
            ("list", ours),
            ("bare", bare),
            ("toy", toy),
            ("post", created),
            ("bare post", bare_post),
        ):
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

    figures = {
        "http.list_tasks.vs_bare_litestar": figure(
            ours.rps,
            bare.rps,
            "requests/s",
            baseline_name="bare Litestar endpoint returning the same page from memory",
            better="higher",
            details={
                "ours": _load(ours),
                "baseline": _load(bare),
                "p99_ratio": round(ours.p99_ms / bare.p99_ms, 2),
            },
        ),
        "http.list_tasks.vs_fastapi_toy": figure(
            ours.rps,
            toy.rps,
            "requests/s",
            baseline_name="FastAPI toy returning the same page from memory (bench/peers/fastapi_toy.py)",
            better="higher",
            details={"ours": _load(ours), "baseline": _load(toy)},
        ),
        "http.create_task.vs_bare_litestar": not_measured(created, "requests/s")
        if isinstance(created, str)
        else figure(
            created.rps,
            bare_post.rps,
            "requests/s",
            baseline_name="bare Litestar POST parsing the same body, no database",
            better="higher",
            details={"ours": _load(created), "baseline": _load(bare_post)},
        ),
    }
    return figures, footprint, aio, dataset
