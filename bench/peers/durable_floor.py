"""The durable floor of a create: bare Litestar POSTs that commit to a SQLite file.

The bare peer's POST parses the body and writes nothing, so its req/s says what the
framework costs, not what a durable create can cost. These two say the second:

- `POST /tasks` parses the same body, commits it as one row in one transaction, and
  answers the bare peer's task-sized document;
- `POST /tasks/fanout` does the same and then commits one more small row in each of
  four more transactions: the four modules that keep a read model of a new task
  (analytics, billing, gateway, notification), each of which commits once per event
  in the all-in-one process on the same core.

Nothing else: no auth, no reads, no ORM, no outbox, no bus. The connection is the
stdlib `sqlite3` called on the event loop (the cheapest way from Python to SQLite),
with the pragmas our engines set (`cloudtaskhub.db.engines`: WAL, synchronous=NORMAL).
`BENCH_FLOOR_DB` names the file.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Litestar, post

from bench.peers.bare_litestar import TaskCreate, created, ready

#: The read models a new task reaches in the all-in-one process, one transaction each.
READ_MODELS = 4


def _open(path: str) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(
        "CREATE TABLE IF NOT EXISTS tasks (id BLOB PRIMARY KEY, title TEXT NOT NULL, description TEXT, "
        "priority TEXT NOT NULL, labels TEXT NOT NULL, created_at TEXT NOT NULL)"
    )
    connection.execute(
        "CREATE TABLE IF NOT EXISTS seen (task_id BLOB NOT NULL, model INTEGER NOT NULL, "
        "PRIMARY KEY (task_id, model))"
    )
    return connection


#: The connection, opened when the app starts (`durable_floor_pg` imports this module).
_DATABASE: list[sqlite3.Connection] = []


def _start() -> None:
    _DATABASE.append(_open(os.environ["BENCH_FLOOR_DB"]))


def _commit(statement: str, values: tuple[Any, ...]) -> None:
    database = _DATABASE[0]
    database.execute("BEGIN IMMEDIATE")
    try:
        database.execute(statement, values)
    except BaseException:
        database.execute("ROLLBACK")
        raise
    database.execute("COMMIT")


def _store(data: TaskCreate) -> bytes:
    task_id = uuid.uuid4().bytes
    labels = msgspec.json.encode(data.labels).decode()
    created_at = datetime.now(UTC).isoformat()
    _commit(
        "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?)",
        (task_id, data.title, data.description, data.priority, labels, created_at),
    )
    return task_id


@post("/tasks", sync_to_thread=False)
def create_task(data: TaskCreate) -> dict[str, Any]:
    _store(data)
    return created(data)


@post("/tasks/fanout", sync_to_thread=False)
def create_task_and_read_models(data: TaskCreate) -> dict[str, Any]:
    task_id = _store(data)
    for model in range(READ_MODELS):
        _commit("INSERT INTO seen VALUES (?, ?)", (task_id, model))
    return created(data)


def create_app() -> Litestar:
    return Litestar([create_task, create_task_and_read_models, ready], on_startup=[_start], debug=False)
