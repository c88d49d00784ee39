"""`python -m bench.pin_backends --cpus 1 DATABASE...`: keep the PostgreSQL backends that
serve these databases on the given CPUs, until stdin closes.

In production the database is another machine's work. In the benches it shares two cores
with the measured process, and the kernel wakes a backend on the core of the process that
wrote to it: the measured process's. Profiles of the PostgreSQL task list showed 19-57 % of
the server's samples "in write()" to its connection, preempted there while its backend ran
the query on the same core (4.6 % with the backends moved; bench/profiles/pg-list-native-*).
The benches therefore put the backends on the load CPU, as they put the Kafka broker there.

A backend is found by its process title (`postgres: [cluster: ]user database host(port)
state`), read from /proc every 0.2 s, so a connection a pool opens mid-run is moved within
that time. Run by `bench.common.database_backends_on_load_cpu`, pinned to the load CPU
itself; it needs the right to set other users' affinity (root), and pins nothing otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import select
import sys
from pathlib import Path

#: `postgres: 15/main: postgres cth_bench_http 127.0.0.1(40410) idle` (the cluster name is
#: there when `cluster_name` is set).
_TITLE = re.compile(rb"^postgres: (?:[^ :]+: )?\S+ (\S+) \S+\(\d+\)")


def backends(databases: set[bytes]) -> set[int]:
    """Pids of the backends connected to one of `databases`."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        match = _TITLE.match(title)
        if match and match.group(1) in databases:
            found.add(int(entry.name))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pin_backends")
    parser.add_argument("--cpus", required=True, help="comma-separated CPU numbers")
    parser.add_argument("databases", nargs="+")
    arguments = parser.parse_args()
    cpus = {int(cpu) for cpu in arguments.cpus.split(",")}
    databases = {name.encode() for name in arguments.databases}
    pinned: set[int] = set()
    while True:
        for pid in backends(databases) - pinned:
            try:
                os.sched_setaffinity(pid, cpus)
            except OSError:  # gone already, or not ours to move
                continue
            pinned.add(pid)
        # Until the bench closes our stdin (or exits): then stop.
        ready, _, _ = select.select([sys.stdin], [], [], 0.2)
        if ready and not sys.stdin.buffer.read1(1):
            return


if __name__ == "__main__":
    main()
