"""The README table, rendered from a results file: `python -m bench.report [results.json]`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LABELS = {
    "http.list_tasks.vs_bare_litestar": "List 20 tasks (auth, SQLite) vs bare Litestar, req/s",
    "http.list_tasks.vs_fastapi_toy": "List 20 tasks vs the FastAPI toy (in-memory), req/s",
    "http.get_task.vs_bare_litestar": "One task (auth, SQLite) vs bare Litestar, req/s",
    "http.dashboard.vs_bare_litestar": "Dashboard (auth, SQLite) vs bare Litestar, req/s",
    "http.list_tasks.p99_at_50_connections": "List p99 at 50 connections vs bare Litestar, ms",
    "http.create_task.vs_bare_litestar": "Create task (+ outbox) vs bare Litestar POST, req/s",
    "http.create_task.vs_durable_floor": "Create task vs the durable floor (bare POST + 5 stdlib SQLite "
    "commits), req/s",
    "http.list_tasks_postgres.vs_bare_litestar": "List 20 tasks (auth, PostgreSQL) vs bare Litestar, req/s",
    "http.get_task_postgres.vs_bare_litestar": "One task (auth, PostgreSQL) vs bare Litestar, req/s",
    "http.dashboard_postgres.vs_bare_litestar": "Dashboard (auth, PostgreSQL) vs bare Litestar, req/s",
    "http.create_task_postgres.vs_bare_litestar": "Create task (+ outbox), PostgreSQL, vs bare POST, req/s",
    "http.create_task_postgres.vs_durable_floor": "Create task, PostgreSQL, vs the durable floor "
    "(bare POST + 5 asyncpg INSERT commits), req/s",
    "events.memory_sqlite.latency_p99": "In-process bus, SQLite: commit→handler p99 @500/s, ms",
    "events.memory_sqlite.throughput": "In-process bus, SQLite, fed by 8 producers' commits: events/s "
    "vs inline",
    "events.memory_sqlite.spine_drain": "In-process bus, SQLite, spine drain (rows already in the outbox): "
    "events/s vs inline",
    "events.memory_postgres.latency_p99": "In-process bus, PostgreSQL: commit→handler p99 @500/s, ms",
    "events.memory_postgres.throughput": "In-process bus, PostgreSQL, fed by 8 producers' commits: events/s "
    "vs inline",
    "events.memory_postgres.spine_drain": "In-process bus, PostgreSQL, spine drain (rows already in the "
    "outbox): events/s vs inline",
    "events.kafka_sqlite.latency_p99": "Kafka bus (Tansu): commit→handler p99 @500/s, ms",
    "events.kafka_sqlite.throughput": "Kafka bus (Tansu), fed by 8 SQLite producers' commits: events/s vs "
    "raw aiokafka producing from memory",
    "events.kafka_sqlite.spine_drain": "Kafka bus (Tansu), spine drain (rows already in the outbox): "
    "events/s vs raw aiokafka produce+consume",
    "events.kafka_postgres.latency_p99": "Kafka bus (Tansu), PostgreSQL outbox/inbox: commit→handler p99 "
    "@500/s, ms",
    "events.kafka_postgres.throughput": "Kafka bus (Tansu), fed by 8 PostgreSQL producers' commits: "
    "events/s vs raw aiokafka producing from memory",
    "events.kafka_postgres.spine_drain": "Kafka bus (Tansu), PostgreSQL, spine drain (rows already in the "
    "outbox): events/s vs raw aiokafka produce+consume",
    "events.keeping_up.all_in_one_sqlite": "Keeping up: last create request → every backlog 0 (SQLite), s",
    "split.mixed.latency_p99": "Mixed scenario p99: split via Traefik vs all-in-one, ms",
    "split.mixed.throughput": "Mixed scenario: split via Traefik vs all-in-one, req/s",
    "split.assignment_to_notification.p99": "Assignment→notification p99: split vs all-in-one, ms",
    "footprint.all_in_one.rss": "RSS after warm-up: all-in-one vs bare Litestar, MiB",
    "footprint.all_in_one.cold_start": "Cold start to ready: all-in-one vs bare Litestar, s",
    "footprint.split.rss": "RSS: six split processes (sum) vs all-in-one, MiB",
    "footprint.split.cold_start": "Cold start: split stack vs all-in-one, s",
}


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        "| figure | ours | baseline (same run) | ratio |",
        "|---|---:|---:|---:|",
    ]
    for key, item in results["figures"].items():
        label = LABELS.get(key, key)
        if item.get("not_measured"):
            lines.append(f"| {label} | not measured: {item['not_measured']} | | |")
            continue
        value, baseline, ratio = (_number(item[k]) for k in ("value", "baseline", "ratio"))
        lines.append(f"| {label} | {value} | {baseline} | {ratio}× |")
    lines.append("")
    lines.append(
        f"`{meta['command']}` — {meta['mode']} mode, {meta['timestamp']}, git {meta['git_sha'][:10]}"
        f"{' (dirty tree)' if meta.get('git_dirty') else ''}, "
        f"{meta['machine']['cores']}× {meta['machine']['cpu']}, "
        f"load average at start {meta.get('loadavg_at_start')}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    path = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parent / "results" / "latest.json"
    )
    print(markdown(json.loads(path.read_text())))
