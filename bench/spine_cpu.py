"""`python -m bench.spine_cpu [producers|relay|full ...] [--events N]`: the CPU one event
costs the event spine, in one process on one CPU (SQLite file, in-process bus).

8 producers commit one event per transaction (the bench modules of `bench.events`), in
bursts of 500, until N events are through; printed: events/s and process CPU per event.

- `producers`: the commits alone (the relay is neither woken nor polling);
- `relay`: the commits and the relay (no consumer: it marks rows published once
  handed over), until the outbox is drained;
- `full`: the commits, the relay and one consuming module, until its handler has seen
  every event.

The differences between the variants say what the relay and the consumer cost per event.
Run it pinned to one CPU (`taskset -c 0`) and alternate trees to compare code
(`PYTHONPATH=<worktree>`, as `bench.interleave` does); a single run on a shared machine
says little.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.events import Recorder, _start_runtime, bench_modules, burst, ping
from cloudtaskhub.heap import freeze_startup_heap

VARIANTS = ("producers", "relay", "full")
BURST = 500


async def measure(variant: str, events: int) -> tuple[float, float]:
    """(events/s, CPU ms per event) of `variant` over `events` events."""
    with tempfile.TemporaryDirectory(prefix="cth-spine-cpu-") as directory:
        recorder = Recorder()
        modules = bench_modules(recorder)
        mounted = modules if variant == "full" else modules[:1]
        runtime = await _start_runtime(
            mounted, f"sqlite+aiosqlite:///{directory}/spine.db", Path(directory), {}
        )
        source = runtime.module("benchsrc")
        uow = source.uow
        if variant == "producers":
            # The relay neither woken nor polling.
            uow._on_commit = lambda: None
            source.relay._poll = 3600.0
        try:

            async def send(seq: int) -> None:
                async with uow.transaction() as tx:
                    await tx.record(ping(seq))

            await burst(send, 0, 300)  # warm-up
            if variant == "full":
                await recorder.wait_for(range(300), 20)
            freeze_startup_heap()
            sent, seq = 0, 1000
            cpu, started = time.process_time(), time.monotonic()
            while sent < events:
                await burst(send, seq, BURST)
                if variant == "full":
                    await recorder.wait_for(range(seq, seq + BURST), 60)
                seq, sent = seq + BURST, sent + BURST
            if variant == "relay":
                await source.relay.drain()
            cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
        finally:
            await runtime.stop()
    return sent / elapsed, cpu / sent * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.spine_cpu")
    parser.add_argument("variants", nargs="*", choices=VARIANTS, default=["full"])
    parser.add_argument("--events", type=int, default=4000)
    arguments = parser.parse_args()
    for variant in arguments.variants:
        rate, cpu_ms = asyncio.run(measure(variant, arguments.events))
        print(f"{variant:10s} {rate:6.0f}/s  cpu/event {cpu_ms:.3f} ms", flush=True)


if __name__ == "__main__":
    main()
