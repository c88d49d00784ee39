"""`python -m bench.profile OUT_DIR [--tag before] [--pg-url URL]`: py-spy flame graphs
of the all-in-one server under wrk, one per hot endpoint (list, get, dashboard, create),
written as `OUT_DIR/<endpoint>-<tag>.svg` (SQLite) or `OUT_DIR/pg-<endpoint>-<tag>.svg`
(PostgreSQL at `--pg-url`: the database `<name>_http` beside it, emptied before and
after, as `bench.httpbench` uses it).

`py-spy record --gil` samples only the thread holding the GIL, so the graph shows
where Python time goes (aiosqlite's worker threads appear only while they hold it);
`--all-threads` samples every thread that is not idle (the loop, aiosqlite's workers
waiting on SQLite, the GIL waits), one graph per thread under the root.
The server and py-spy run on the server CPU, wrk (and PostgreSQL's backends) on the load
CPU, as in `make bench`;
wrap it in `flock /tmp/bench.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from bench.common import (
    VENV_BIN,
    cloudtaskhub_server,
    database_backends_on_load_cpu,
    free_port,
    pin_server_side,
)
from bench.httpbench import CONNECTIONS, aio_environment, reset_http_database, start_all_in_one
from bench.load import wrk
from bench.scenario import create_dataset, list_path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("out", type=Path)
    parser.add_argument("--tag", default="after")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument(
        "--only", action="append", choices=("list", "get", "dashboard", "create"), help="only these"
    )
    parser.add_argument("--pg-url", default=None, help="profile the server on PostgreSQL (asyncpg)")
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread that is running (not only the GIL holder): aiosqlite's workers too",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="write py-spy's collapsed stacks (<endpoint>-<tag>.txt, one line per stack) instead of an SVG",
    )
    parser.add_argument(
        "--native",
        action="store_true",
        help="with the C and Cython frames (asyncpg's protocol, uvloop, msgspec): where native time goes",
    )
    arguments = parser.parse_args()
    arguments.out.mkdir(parents=True, exist_ok=True)
    pin_server_side()
    with tempfile.TemporaryDirectory(prefix="cth-profile-") as temporary:
        workdir = Path(temporary)
        prefix = ""
        database = None
        if arguments.pg_url is None:
            server = start_all_in_one(workdir / "aio", workdir / "logs")
        else:
            database = reset_http_database(arguments.pg_url)
            if database is None:
                raise SystemExit(f"PostgreSQL not reachable at {arguments.pg_url}")
            environment = aio_environment(workdir / "aio-pg") | {"CTH_DATABASE_URL": database}
            server = cloudtaskhub_server("all-in-one-pg", free_port(), workdir / "logs", environment)
            server.wait_ready("/health/ready")
            prefix = "pg-"
        with database_backends_on_load_cpu(database):
            try:
                dataset = create_dataset(server.url)
                auth = [dataset.owner.header_line]
                targets = {
                    "list": (server.url + list_path(dataset), "get.lua"),
                    "get": (f"{server.url}/api/v1/tasks/{dataset.task_id}", "get.lua"),
                    "dashboard": (f"{server.url}/api/v1/dashboard", "get.lua"),
                    "create": (
                        f"{server.url}/api/v1/projects/{dataset.write_project}/tasks",
                        "post_task.lua",
                    ),
                }
                for name, (url, script) in targets.items():
                    if arguments.only and name not in arguments.only:
                        continue
                    suffix = "txt" if arguments.raw else "svg"
                    svg = arguments.out / f"{prefix}{name}-{arguments.tag}.{suffix}"
                    spy = subprocess.Popen(
                        [
                            str(VENV_BIN / "py-spy"),
                            "record",
                            *(() if arguments.all_threads else ("--gil",)),
                            *(("--native",) if arguments.native else ()),
                            "--rate",
                            "200",
                            "--duration",
                            str(int(arguments.seconds)),
                            "--pid",
                            str(server.process.pid),
                            "--output",
                            str(svg),
                            "--format",
                            "raw" if arguments.raw else "flamegraph",
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    result = wrk(
                        url, script, seconds=arguments.seconds, connections=CONNECTIONS, headers=auth
                    )
                    spy.wait(timeout=60)
                    print(f"{name}: {result.rps:.0f} req/s, p99 {result.p99_ms} ms -> {svg}")
            finally:
                server.stop()
                if arguments.pg_url is not None:
                    reset_http_database(arguments.pg_url)


if __name__ == "__main__":
    main()
