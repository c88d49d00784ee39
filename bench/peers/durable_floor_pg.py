"""The durable floor of a create on PostgreSQL: `durable_floor`'s fan-out POST on asyncpg.

`POST /tasks/fanout` decodes the same body, INSERTs it as one row, then one small row for
each of the four read models a new task reaches (`durable_floor.READ_MODELS`), each
INSERT its own transaction (autocommit), on one connection of an asyncpg pool: no auth,
no reads, no ORM, no outbox, no bus. `BENCH_FLOOR_PG_URL` names the database (a
`postgresql://` URL); the peer makes its two tables there, emptied at start.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, post

from bench.peers.bare_litestar import TaskCreate, created, ready
from bench.peers.durable_floor import READ_MODELS

_POOL: list[asyncpg.Pool] = []


async def _open() -> None:
    pool = await asyncpg.create_pool(os.environ["BENCH_FLOOR_PG_URL"], min_size=4, max_size=16)
    async with pool.acquire() as connection:
        await connection.execute(
            "DROP TABLE IF EXISTS floor_tasks, floor_seen;"
            "CREATE TABLE floor_tasks (id uuid PRIMARY KEY, title text NOT NULL, description text, "
            "priority text NOT NULL, labels text NOT NULL, created_at timestamptz NOT NULL);"
            "CREATE TABLE floor_seen (task_id uuid NOT NULL, model integer NOT NULL, "
            "PRIMARY KEY (task_id, model))"
        )
    _POOL.append(pool)


async def _close() -> None:
    for pool in _POOL:
        await pool.close()


@post("/tasks/fanout")
async def create_task_and_read_models(data: TaskCreate) -> dict[str, Any]:
    task_id = uuid.uuid4()
    labels = msgspec.json.encode(data.labels).decode()
    async with _POOL[0].acquire() as connection:
        await connection.execute(
            "INSERT INTO floor_tasks VALUES ($1, $2, $3, $4, $5, $6)",
            task_id,
            data.title,
            data.description,
            data.priority,
            labels,
            datetime.now(UTC),
        )
        for model in range(READ_MODELS):
            await connection.execute("INSERT INTO floor_seen VALUES ($1, $2)", task_id, model)
    return created(data)


def create_app() -> Litestar:
    return Litestar(
        [create_task_and_read_models, ready], on_startup=[_open], on_shutdown=[_close], debug=False
    )
