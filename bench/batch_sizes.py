"""`python -m bench.batch_sizes [out.json]`: the in-process bus on SQLite and the Kafka bus
(Tansu) at several `CTH_BUS_CONSUMER_BATCH_MAX`, back to back, to choose its default.

Each size runs `bench.events.kernel_path` (1,000 events at 500/s for the latency, then
a burst of 2,000 from 8 producers for the throughput); size 1 is one transaction per
event, as before batching.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import events
from bench.__main__ import loadavg
from bench.common import LOAD_CPUS, pin_all_threads, pin_server_side

SIZES = (1, 10, 100, 500)
BURST = 2000


async def measure(workdir: Path) -> dict[str, Any]:
    from entrypoints.split import start_broker

    results: dict[str, Any] = {"loadavg_at_start": loadavg(), "memory_sqlite": {}, "kafka_sqlite": {}}
    for size in SIZES:
        database = f"sqlite+aiosqlite:///{workdir / f'memory-{size}.db'}"
        latency, throughput = await events.kernel_path(
            database, workdir, 2.0, BURST, bus_consumer_batch_max=size
        )
        results["memory_sqlite"][size] = {"latency": latency.summary(), "throughput": throughput.summary()}
        print(size, "memory", latency.p99_ms, throughput.handled_per_s, flush=True)
    broker, bootstrap = start_broker(workdir / "logs")
    pin_all_threads(broker.pid, LOAD_CPUS)
    try:
        for size in SIZES:
            kafka = {**events.kafka_settings(bootstrap), "bus_consumer_batch_max": size}
            database = f"sqlite+aiosqlite:///{workdir / f'kafka-{size}.db'}"
            latency, throughput = await events.kernel_path(database, workdir, 2.0, BURST, **kafka)
            results["kafka_sqlite"][size] = {"latency": latency.summary(), "throughput": throughput.summary()}
            print(size, "kafka", latency.p99_ms, throughput.handled_per_s, flush=True)
    finally:
        broker.stop()
    results["loadavg_at_end"] = loadavg()
    return results


def main() -> int:
    pin_server_side()
    with tempfile.TemporaryDirectory(prefix="cth-batch-sizes-") as temporary:
        results = asyncio.run(measure(Path(temporary)))
    text = json.dumps(results, indent=2)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
