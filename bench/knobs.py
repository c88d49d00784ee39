"""`python -m bench.knobs --vary CTH_BUS_LANES=1,4,8,16 [--vary VAR=a,b ...] --out FILE`:
the event-bus figures once per spine setting, defaults unchanged.

Each value of each `--vary` is one variant: `python -m bench.buses` in a fresh process
with that one variable set in its environment (everything else at its default), run
one after the other. A variant measures the buses of `--buses` (commit→handler p99 at
500 events/s, events/s fed by 8 producers, the spine drain, each against its same-run
baseline) and, with `--keeping-up SECONDS`, the keeping-up figure of an all-in-one
server under that much create load. The table printed at the end (and written with the
raw results to FILE) has the consumer's mean batch size of each phase beside them.
List the default value too, so it is measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.__main__ import loadavg, run_meta
from bench.common import ROOT, write_results
from bench.events import BUSES, spine_overrides


def variants(vary: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in vary:
        variable, _, values = item.partition("=")
        if not values:
            raise SystemExit(f"--vary {item}: expected VARIABLE=value,value")
        for value in values.split(","):
            out.append({variable: value})
    for variant in out:
        spine_overrides(variant)  # a misspelt variable stops here
    return out


def run_variant(
    variant: dict[str, str], buses: str, keeping_up: float, drain: int | None, workdir: Path
) -> dict[str, Any]:
    name = ",".join(f"{k}={v}" for k, v in variant.items())
    out = workdir / f"{name or 'defaults'}.json"
    command = [sys.executable, "-m", "bench.buses", "--buses", buses, "--out", str(out)]
    if keeping_up:
        command += ["--keeping-up", str(keeping_up)]
    if drain is not None:
        command += ["--drain", str(drain)]
    log = workdir / f"{name or 'defaults'}.log"
    started = time.monotonic()
    with log.open("wb") as sink:
        finished = subprocess.run(
            command,
            cwd=ROOT,
            env={**os.environ, **variant},
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=False,
        )
    print(f"[knobs] {name}: exit {finished.returncode} in {time.monotonic() - started:.0f}s", flush=True)
    if finished.returncode != 0 or not out.exists():
        return {"variant": variant, "failed": log.read_text(errors="replace")[-2000:]}
    results = json.loads(out.read_text())
    return {"variant": variant, "meta": results["meta"], "figures": results["figures"]}


def _cell(figure: dict[str, Any] | None, digits: int = 0) -> str:
    if not figure or figure.get("value") is None:
        return "—"
    value = f"{figure['value']:,.{digits}f}"
    return f"{value} ({figure['ratio']:.2f}×)" if figure.get("ratio") is not None else value


def _batch(figure: dict[str, Any] | None) -> str:
    """The bus's mean batch: a phase's `batches` dict, or the drain's own fields."""
    bus = (figure or {}).get("details", {}).get("bus", {})
    batches = bus.get("batches")
    mean = (batches if isinstance(batches, dict) else bus).get("batch_mean")
    return "—" if mean is None else f"{mean:.1f}"


def _offered(figure: dict[str, Any] | None) -> str:
    offered = (figure or {}).get("details", {}).get("bus", {}).get("offered_per_s")
    return "—" if offered is None else f"{offered:,.0f}"


def table(rows: list[dict[str, Any]], buses: list[str]) -> str:
    lines = [
        "| variant | bus | commit→handler p99, ms (× baseline) | offered/s (500 asked) | batch "
        "| fed by producers, events/s (×) | batch | spine drain, events/s (×) | batch | keeping up, s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        name = ", ".join(f"{k}={v}" for k, v in row["variant"].items()) or "defaults"
        if "failed" in row:
            lines.append(f"| {name} | failed | | | | | | | | |")
            continue
        figures = row["figures"]
        kept = figures.get("events.keeping_up.all_in_one_sqlite")
        kept_cell = _cell(kept, 2).split(" (")[0] if kept and kept.get("value") is not None else "—"
        for bus in buses:
            latency = figures.get(f"events.{bus}.latency_p99")
            fed = figures.get(f"events.{bus}.throughput")
            drain = figures.get(f"events.{bus}.spine_drain")
            lines.append(
                f"| {name} | {bus} | {_cell(latency, 1)} | {_offered(latency)} | {_batch(latency)} "
                f"| {_cell(fed)} | {_batch(fed)} "
                f"| {_cell(drain)} | {_batch(drain)} | {kept_cell} |"
            )
    return "\n".join(lines)


def main() -> int:
    if sys.argv[1:2] == ["--table"]:  # render a results file again: --table FILE
        results = json.loads(Path(sys.argv[2]).read_text())
        buses = sorted(
            {k.split(".")[1] for r in results["variants"] for k in r.get("figures", {})} - {"keeping_up"}
        )
        print(table(results["variants"], [b for b in BUSES if b in buses]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.knobs")
    parser.add_argument("--vary", action="append", required=True, help="VARIABLE=value,value (repeatable)")
    parser.add_argument("--buses", default=",".join(BUSES))
    parser.add_argument("--keeping-up", type=float, default=0.0, help="seconds of create load; 0: not run")
    parser.add_argument("--drain", type=int, default=None)
    parser.add_argument("--out", type=Path, required=True)
    arguments = parser.parse_args()
    buses = [b for b in arguments.buses.split(",") if b]
    meta = run_meta("python -m bench.knobs " + " ".join(sys.argv[1:]))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="cth-knobs-") as temporary:
        for variant in variants(arguments.vary):
            rows.append(
                run_variant(variant, arguments.buses, arguments.keeping_up, arguments.drain, Path(temporary))
            )
    meta["loadavg_at_end"] = loadavg()
    rendered = table(rows, buses)
    write_results(arguments.out, {"meta": meta, "table": rendered, "variants": rows})
    print(rendered)
    print(f"load average {meta['loadavg_at_start']} → {meta['loadavg_at_end']}; wrote {arguments.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
