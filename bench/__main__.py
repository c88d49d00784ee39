"""`python -m bench [--mode quick|full]`: run every benchmark, write bench/results/latest.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import events, httpbench, split
from bench.common import ROOT, figure, git, machine_info, not_measured, pin_server_side, write_results
from bench.load import wrk_version

MODES: dict[str, dict[str, Any]] = {
    # ≤ 3 minutes on the 2-core reference machine
    # drain: events committed to the outbox before the spine-drain figures start the relay
    "quick": {
        "http_seconds": 5,
        "event_seconds": 2.0,
        "burst": 500,
        "drain": 1000,
        "mixed_seconds": 5,
        "probes": 20,
    },
    "full": {
        "http_seconds": 15,
        "event_seconds": 6,
        "burst": 5000,
        "drain": 5000,
        "mixed_seconds": 15,
        "probes": 40,
    },
}
OPTIMIZATIONS = Path(__file__).resolve().parent / "optimizations.json"


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def run_meta(command: str, **fields: Any) -> dict[str, Any]:
    """What every results file says of its run: the command, the code, the machine, the load."""
    return {
        "command": command,
        "git_sha": git("rev-parse", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "loadavg_at_start": loadavg(),
        **fields,
    }


def footprint_figures(facts: dict[str, Any], split_result: dict[str, Any] | str) -> dict[str, Any]:
    out = {
        "footprint.all_in_one.rss": figure(
            facts["aio_rss_mib"],
            facts["bare_rss_mib"],
            "MiB",
            baseline_name="bare Litestar peer after the same load",
            better="lower",
            details={"fastapi_toy_rss_mib": facts["fastapi_rss_mib"]},
        ),
        "footprint.all_in_one.cold_start": figure(
            facts["aio_ready_s"],
            facts["bare_ready_s"],
            "s",
            baseline_name="bare Litestar peer: spawn to first 200",
            better="lower",
            details={"note": "spawn to /health/ready 200 on an empty SQLite database (schema created)"},
        ),
    }
    if isinstance(split_result, str):
        out["footprint.split.rss"] = not_measured(split_result, "MiB")
        out["footprint.split.cold_start"] = not_measured(split_result, "s")
    else:
        rss = split_result["rss"]
        modules = {k: v for k, v in rss.items() if k not in ("broker", "traefik")}
        out["footprint.split.rss"] = figure(
            sum(modules.values()),
            facts["aio_rss_mib"],
            "MiB",
            baseline_name="the all-in-one process (all six modules)",
            better="lower",
            details={
                "per_process_mib": rss,
                "note": "value: the six module processes, broker and Traefik apart",
            },
        )
        out["footprint.split.cold_start"] = figure(
            split_result["ready_s"],
            facts["aio_ready_s"],
            "s",
            baseline_name="the all-in-one process: spawn to ready",
            better="lower",
            details={"note": "broker, six module processes ready, then Traefik answering"},
        )
    return out


def parse_arguments(prog: str, default_out: str) -> argparse.Namespace:
    """The options every bench entry point takes: mode, results file, PostgreSQL URL."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--mode", choices=sorted(MODES), default=os.environ.get("BENCH_MODE", "quick"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / default_out)
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/cth_bench"),
    )
    return parser.parse_args()


def main() -> int:
    arguments = parse_arguments("python -m bench", "latest.json")
    mode = MODES[arguments.mode]
    pin_server_side()
    started = time.monotonic()
    meta = run_meta(
        os.environ.get("BENCH_COMMAND")
        or shlex.join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        mode=arguments.mode,
        load_generator=f"{wrk_version()} (1 thread, keep-alive, pinned to the load CPU)",
        parameters=mode,
        spine_environment=events.spine_environment(),
    )
    events.spine_overrides()  # a misspelt CTH_BUS_/CTH_KAFKA_/CTH_OUTBOX_ variable stops here
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cth-bench-") as temporary:
        workdir = Path(temporary)
        (workdir / "events").mkdir()
        logs = workdir / "logs"

        def stage(name: str) -> None:
            print(f"[bench {time.monotonic() - started:6.1f}s] {name}", flush=True)

        stage("HTTP: list, get, dashboard, create (SQLite, PostgreSQL) vs bare Litestar, FastAPI toy")
        http_figures, facts, aio, dataset = httpbench.run(
            workdir, logs, mode["http_seconds"], arguments.pg_url
        )
        figures |= http_figures
        aio_mixed: dict[str, Any] | str
        try:
            stage("mixed scenario and assignment→notification, all-in-one")
            aio_mixed = split.run_all_in_one(aio.url, dataset, mode["mixed_seconds"], mode["probes"])
        except Exception as error:
            traceback.print_exc()
            aio_mixed = f"all-in-one mixed scenario failed: {type(error).__name__}: {error}"[:300]
        finally:
            aio.stop()

        stage("event bus: in-process (SQLite, PostgreSQL), Kafka (SQLite, PostgreSQL)")
        figures |= asyncio.run(
            events.run(
                workdir / "events",
                logs,
                mode["event_seconds"],
                mode["burst"],
                arguments.pg_url,
                mode["drain"],
            )
        )

        stage("keeping up: all-in-one under create load until every backlog is 0")
        from bench import spine

        kept: dict[str, Any] | str
        try:
            kept = spine.run_all_in_one(workdir, logs, mode["http_seconds"])["keeping_up"]
        except Exception as error:
            traceback.print_exc()
            kept = f"keeping-up run failed: {type(error).__name__}: {error}"[:300]
        figures |= spine.keeping_up_figure(kept)

        stage("split shape through Traefik")
        split_result: dict[str, Any] | str
        if isinstance(aio_mixed, str):
            split_result = f"no all-in-one baseline: {aio_mixed}"
        else:
            try:
                split_result = split.run_split(workdir / "split", mode["mixed_seconds"], mode["probes"])
            except Exception as error:
                traceback.print_exc()
                split_result = f"split shape failed: {type(error).__name__}: {error}"[:300]
        figures |= split.figures(aio_mixed, split_result)
        figures |= footprint_figures(facts, split_result)

    return finish(meta, figures, started, arguments.out)


def finish(
    meta: dict[str, Any], figures: dict[str, Any], started: float, out: Path, *, optimizations: bool = True
) -> int:
    """Stamp the run's duration and load, add the optimizations log, write and print the results."""
    meta["duration_s"] = round(time.monotonic() - started, 1)
    meta["loadavg_at_end"] = loadavg()
    results: dict[str, Any] = {"meta": meta, "figures": figures}
    if optimizations and OPTIMIZATIONS.exists():
        results["optimizations"] = json.loads(OPTIMIZATIONS.read_text())
    write_results(out, results)
    from bench.report import markdown

    print(markdown(results))
    print(f"wrote {out} in {meta['duration_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
