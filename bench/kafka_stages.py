"""`python -m bench.kafka_stages [--out FILE]`: where an event's time goes on the Kafka bus.

Runs `bench.events.kernel_path` on the Kafka bus (Tansu; the outbox and inbox on SQLite,
or on PostgreSQL with `--pg-url URL`) with timestamps at each stage of every event —
committed (`sent_at`, in the event) → the relay starts publishing it → the broker
acknowledged it → the consumer fetched it → its batch starts → its batch's
transaction committed — and the durations of the relay's pumps
and marks, the publishes, the consumer batches and the offset commits. The kernel is
patched in this process only (wrappers that take a timestamp, nothing else).

Percentiles per stage, for the latency phase (500 events/s offered) and the burst
(8 producers); results to bench/results/kafka-stages-latest.json (or --out). Run it
under the shared lock, as any bench: the figures are wall-clock.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from bench import events
from bench.__main__ import loadavg
from bench.common import LOAD_CPUS, ROOT, git, percentile, pin_all_threads, pin_server_side

STAGES = ("sent_at", "pub_start", "acked", "fetched", "batch_start", "batch_end")


class Stamps:
    def __init__(self) -> None:
        self.events: dict[str, dict[str, float]] = {}
        self.calls: dict[str, list[float]] = {}

    def stamp(self, event_id: object, stage: str) -> None:
        self.events.setdefault(str(event_id), {})[stage] = time.time()

    def call(self, name: str, seconds: float) -> None:
        self.calls.setdefault(name, []).append(seconds)

    def timed(self, name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.call(name, time.perf_counter() - started)

        return wrapper

    def stages(self, first: int, end: int) -> dict[str, Any]:
        rows = [v for v in self.events.values() if first <= v.get("seq", -1) < end]
        out: dict[str, Any] = {"events": len(rows)}
        for a, b in itertools.pairwise(STAGES):
            samples = [(r[b] - r[a]) * 1000 for r in rows if a in r and b in r]
            out[f"{a}->{b}"] = {
                p: round(percentile(samples, q), 1) for p, q in (("p50", 50), ("p90", 90), ("p99", 99))
            }
        return out

    def call_summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, values in self.calls.items():
            if name.endswith("_size"):
                out[name] = {
                    "n": len(values),
                    "mean": round(sum(values) / len(values), 2),
                    "max": max(values),
                }
            else:
                ms = [v * 1000 for v in values]
                out[name] = {
                    "n": len(ms),
                    "p50_ms": round(percentile(ms, 50), 1),
                    "p90_ms": round(percentile(ms, 90), 1),
                    "max_ms": round(max(ms), 1),
                    "total_s": round(sum(ms) / 1000, 2),
                }
        return out


def patch(owner: Any, name: str, value: Any) -> None:
    """Replace `owner.name` for this process (the bench's instrumentation)."""
    setattr(owner, name, value)


def instrument(stamps: Stamps) -> None:
    from cloudtaskhub.events import kafka as kafka_bus
    from cloudtaskhub.events import relay
    from cloudtaskhub.events.dispatcher import Dispatcher
    from cloudtaskhub.events.kafka import _group

    publish = kafka_bus.KafkaBus.publish

    async def timed_publish(self: Any, envelopes: Any) -> Any:
        for envelope in envelopes:
            data = msgspec.json.decode(bytes(envelope.data))
            stamps.stamp(envelope.id, "pub_start")
            row = stamps.events[str(envelope.id)]
            row["sent_at"], row["seq"] = data["sent_at"], data["seq"]
        started = time.perf_counter()
        result = await publish(self, envelopes)
        stamps.call("publish", time.perf_counter() - started)
        stamps.call("publish_size", len(envelopes))
        for envelope in envelopes:
            stamps.stamp(envelope.id, "acked")
        return result

    patch(kafka_bus.KafkaBus, "publish", timed_publish)
    patch(relay.Relay, "_pump", stamps.timed("relay_pump", relay.Relay._pump))
    patch(relay.Relay, "_mark_published", stamps.timed("relay_mark", relay.Relay._mark_published))

    offer = _group._PartitionWorker.offer

    def stamped_offer(self: Any, records: Any) -> None:
        for record in records:
            for name, value in record.headers:
                if name == "ce_id":
                    stamps.stamp(value.decode(), "fetched")
        stamps.call("fetch_size", len(records))
        offer(self, records)

    patch(_group._PartitionWorker, "offer", stamped_offer)
    commit = next(n for n in ("commit_positions", "commit") if hasattr(_group.ConsumerGroup, n))
    patch(_group.ConsumerGroup, commit, stamps.timed("offset_commit", getattr(_group.ConsumerGroup, commit)))

    handle_batch = Dispatcher.handle_batch

    async def stamped_batch(self: Any, envelopes: Any, more: Any = None) -> None:
        for envelope in envelopes:
            stamps.stamp(envelope.id, "batch_start")
        started = time.perf_counter()
        await handle_batch(self, envelopes, more)  # Kafka gives no `more`
        stamps.call("consumer_batch", time.perf_counter() - started)
        stamps.call("consumer_batch_size", len(envelopes))
        for envelope in envelopes:
            stamps.stamp(envelope.id, "batch_end")

    patch(Dispatcher, "handle_batch", stamped_batch)


async def run(seconds: float, burst: int, pg_url: str | None = None) -> dict[str, Any]:
    from entrypoints.split import start_broker

    stamps = Stamps()
    instrument(stamps)
    with tempfile.TemporaryDirectory(prefix="cth-kafka-stages-") as temporary:
        workdir = Path(temporary)
        broker, bootstrap = start_broker(workdir / "logs")
        pin_all_threads(broker.pid, LOAD_CPUS)
        try:
            kafka = events.kafka_settings(bootstrap)
            if pg_url:
                database = await events.postgres_url(pg_url)
                if database is None:
                    raise SystemExit(f"PostgreSQL not reachable at {pg_url}")
            else:
                database = f"sqlite+aiosqlite:///{workdir / 'kafka-stages.db'}"
            latency, throughput = await events.kernel_path(database, workdir, seconds, burst, **kafka)
        finally:
            broker.stop()
    return {
        "latency_phase": {"bus": latency.summary(), "stages_ms": stamps.stages(1000, 100_000)},
        "burst": {"bus": throughput.summary(), "stages_ms": stamps.stages(100_000, 10**9)},
        "calls": stamps.call_summary(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_stages")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kafka-stages-latest.json")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--pg-url", default=None, help="the outbox and inbox on PostgreSQL (default: SQLite)")
    arguments = parser.parse_args()
    pin_server_side()
    meta = {
        "command": "python -m bench.kafka_stages " + " ".join(sys.argv[1:]),
        "git_sha": git("rev-parse", "HEAD"),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "loadavg_at_start": loadavg(),
    }
    results = asyncio.run(run(arguments.seconds, arguments.burst, arguments.pg_url))
    meta["loadavg_at_end"] = loadavg()
    text = json.dumps({"meta": meta, **results}, indent=2)
    arguments.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
