"""A higher scheduling priority for the engine the test bed starts, and for nothing it runs.

Swarm's manager (raft, the dispatcher) and its agent live in dockerd: when dockerd starved on
this 2-core machine, the agent missed its heartbeat to its own manager and Swarm marked the
node down and restarted every task (README, Deployment). Starting dockerd under `nice -n -10`
gave it priority, but every process it starts inherits a nice value: containerd, the shims and
so every container ran at -10 too, and the stack's own app processes then starved the machine
and the engine with it.

On Linux a nice value belongs to a thread, and setpriority(PRIO_PROCESS, tid) changes that one
thread (`renice -n -10 -p TID`). So the engine starts at the normal priority, starts its
containerd (and, through it, every shim and container) at 0, and only then are dockerd's own
threads reniced; threads dockerd creates afterwards inherit the value from the thread that
creates them. A process dockerd itself forks later (docker-proxy for a published port, or a
containerd it restarts after a crash) inherits the value as well; containers never do while the
containerd that starts them runs at 0.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def thread_ids(pid: int) -> set[int]:
    return {int(tid) for tid in os.listdir(f"/proc/{pid}/task")}


def nice_of(tid: int) -> int:
    """The nice value of one thread (field 19 of /proc/TID/stat)."""
    stat = Path(f"/proc/{tid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def children(pid: int, name: str) -> list[int]:
    """The processes named `name` whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == pid and comm == name:
                found.append(int(entry))
    return found


def renice_threads(pid: int, nice: int) -> set[int]:
    """Every thread of `pid`, and no other process, to `nice`. Returns the threads reniced.

    Listed again until no new thread shows up: one created meanwhile by a thread not yet
    reniced started at the old value."""
    done: set[int] = set()
    while fresh := thread_ids(pid) - done:
        for tid in fresh:
            with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
                os.setpriority(os.PRIO_PROCESS, tid, nice)
        done |= fresh
    return done
