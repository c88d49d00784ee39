"""`python -m bench.pg_reads [--pg-url URL] [--reads N] [--rounds R]`: the CPU of one
PostgreSQL hot read through `PgReader.rows`, the task list's statement on a 20-task page.

One process, reads one after the other (uvloop, as the server runs), the process's CPU
time divided by the reads: what the reader costs around asyncpg, without HTTP. Run it
with `PYTHONPATH=<worktree>` for each tree, alternately, and compare medians
(`bench/optimizations.json`, "The PostgreSQL hot reads keep the pooled connections").
The database `<name>_reads` beside the URL's is created, filled and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
from datetime import UTC, datetime, timedelta

import asyncpg
import uvloop
from sqlalchemy import insert

from cloudtaskhub.clock import new_id
from cloudtaskhub.db import Databases
from modules.project.models import MemberModel, ProjectBase, ProjectModel, TaskModel
from modules.project.service._tasks import _list_statement

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cth_bench"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _recreate(url: str) -> str:
    admin, name = url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)
    connection = await asyncpg.connect(f"{admin}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}_reads" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{name}_reads"')
    finally:
        await connection.close()
    return f"{url}_reads"


async def _drop(url: str) -> None:
    admin, name = url.replace("postgresql+asyncpg", "postgresql").rsplit("/", 1)
    connection = await asyncpg.connect(f"{admin}/postgres")
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def measure(url: str, reads: int, rounds: int) -> list[float]:
    database = await _recreate(url)
    databases = Databases()
    try:
        engine = databases.engine(database)
        owner, project_id, now = new_id(), new_id(), datetime.now(UTC)
        async with engine.begin() as connection:
            await connection.run_sync(ProjectBase.metadata.create_all)
            await connection.execute(
                insert(ProjectModel.__table__),
                {"id": project_id, "name": "Bench", "owner_id": owner, "created_at": now}
                | {"updated_at": now, "version": 1},
            )
            await connection.execute(
                insert(MemberModel.__table__),
                {"project_id": project_id, "user_id": owner, "role": "owner", "added_at": now},
            )
            tasks = [
                {"id": new_id(), "project_id": project_id, "title": f"Task {n}", "status": "todo"}
                | {"priority": "medium", "priority_rank": 2, "creator_id": owner, "version": 1}
                | {"created_at": now + timedelta(seconds=n), "updated_at": now}
                for n in range(200)
            ]
            if "labels_json" in TaskModel.__table__.c:  # a tree before the column has none
                for task in tasks:
                    task["labels_json"] = '["bench"]'

            await connection.execute(insert(TaskModel.__table__), tasks)
        reader = databases.pg_reader(database)
        assert reader is not None
        statement = _list_statement("postgresql", "created_at", False, False, False, False, False, None)
        parameters = {"project_id": project_id, "caller": owner, "limit": 21}
        parameters |= dict.fromkeys(("status", "priority", "assignee_id", "label", "q"))
        for _ in range(200):
            await reader.rows(statement, parameters)
        results = []
        for _ in range(rounds):
            started = _cpu()
            for _ in range(reads):
                await reader.rows(statement, parameters)
            results.append(round((_cpu() - started) / reads * 1000, 4))
        return results
    finally:
        await databases.dispose()
        await _drop(database)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pg_reads")
    parser.add_argument("--pg-url", default=DEFAULT_URL)
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    uvloop.install()
    results = asyncio.run(measure(arguments.pg_url, arguments.reads, arguments.rounds))
    print(f"CPU ms per read: {results} (median {statistics.median(results)})")


if __name__ == "__main__":
    main()
