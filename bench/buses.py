"""`python -m bench.buses --out FILE [--buses ...] [--keeping-up SECONDS]`: the event-bus
figures of `make bench` alone (`bench.events`: commit→handler p99 at 500/s, events/s fed by
producers, the spine drain), and with --keeping-up the keeping-up figure (`bench.spine`).

Spine settings come from the environment (`CTH_BUS_*`, `CTH_KAFKA_*`, `CTH_OUTBOX_*`;
`bench.events.spine_overrides`), for the bus and its baseline alike, and for the
all-in-one server of the keeping-up run (it inherits the environment); the results'
`meta.spine_environment` records them. `python -m bench.knobs` runs this once per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.events import BUSES, latency_producers, run, spine_environment, spine_overrides


def main() -> int:
    from bench.__main__ import MODES, finish, run_meta
    from bench.common import pin_server_side

    parser = argparse.ArgumentParser(prog="python -m bench.buses")
    parser.add_argument("--mode", choices=sorted(MODES), default=os.environ.get("BENCH_MODE", "quick"))
    parser.add_argument("--buses", default=",".join(BUSES), help="comma-separated: " + ", ".join(BUSES))
    parser.add_argument("--keeping-up", type=float, default=0.0, help="seconds of create load; 0: not run")
    parser.add_argument(
        "--drain", type=int, default=None, help="events of the spine drain (default: the mode's)"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/cth_bench"),
    )
    arguments = parser.parse_args()
    buses = tuple(b for b in arguments.buses.split(",") if b)
    if unknown := set(buses) - set(BUSES):
        parser.error(f"unknown bus {', '.join(sorted(unknown))}")
    mode = MODES[arguments.mode]
    pin_server_side()
    started = time.monotonic()
    meta = run_meta(
        "python -m bench.buses " + " ".join(sys.argv[1:]),
        mode=arguments.mode,
        parameters=mode,
        spine_environment=spine_environment(),
    )
    spine_overrides()  # a misspelt variable stops here, before anything runs
    latency_producers()  # and so does a bad BENCH_LATENCY_PRODUCERS
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cth-events-") as temporary:
        workdir = Path(temporary)
        if arguments.keeping_up:
            from bench import spine

            kept: dict[str, Any] | str
            try:
                kept = spine.run_all_in_one(workdir, workdir / "logs", arguments.keeping_up)["keeping_up"]
            except Exception as error:
                kept = f"keeping-up run failed: {type(error).__name__}: {error}"[:300]
            figures |= spine.keeping_up_figure(kept)
        (workdir / "events").mkdir()
        figures |= asyncio.run(
            run(
                workdir / "events",
                workdir / "logs",
                mode["event_seconds"],
                mode["burst"],
                arguments.pg_url,
                mode["drain"] if arguments.drain is None else arguments.drain,
                buses,
            )
        )
    return finish(meta, figures, started, arguments.out, optimizations=False)


if __name__ == "__main__":
    sys.exit(main())
