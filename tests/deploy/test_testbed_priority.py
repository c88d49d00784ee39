"""The test bed raises the priority of dockerd's own threads and of nothing dockerd started
before (deploy/testbed/priority.py): its containerd, and so the shims and the containers,
stay at the normal priority. Shown on a stand-in process: threads, a child started before the
renice (containerd's place), a thread started after it (how Go adds threads to dockerd)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from stackfile import ROOT

# The stand-in for dockerd: a child first (as dockerd starts containerd), then three threads;
# after a line on stdin, one more thread, whose id it prints.
_DAEMON = """
import subprocess, sys, threading
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
stop = threading.Event()
for _ in range(3):
    threading.Thread(target=stop.wait, daemon=True).start()
print(child.pid, flush=True)
sys.stdin.readline()
later = threading.Thread(target=stop.wait, daemon=True)
later.start()
print(later.native_id, flush=True)
sys.stdin.readline()
child.kill()
"""


def _priority() -> ModuleType:
    spec = importlib.util.spec_from_file_location("priority", ROOT / "deploy" / "testbed" / "priority.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def daemon() -> Iterator[tuple[subprocess.Popen[str], int]]:
    process = subprocess.Popen(
        [sys.executable, "-c", _DAEMON], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout
    assert process.stdin
    child = int(process.stdout.readline())
    yield process, child
    process.stdin.close()
    process.kill()
    process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.kill(child, signal.SIGKILL)


def test_only_the_daemons_threads_change_priority_not_the_child_it_started(
    daemon: tuple[subprocess.Popen[str], int],
) -> None:
    priority = _priority()
    process, child = daemon
    base = priority.nice_of(process.pid)
    # Root raises the priority as the test bed does; anyone else may only lower it.
    target = base - 5 if os.geteuid() == 0 else min(base + 5, 19)
    if target == base:
        pytest.skip("not root and already at nice 19: no other value to set")

    reniced = priority.renice_threads(process.pid, target)
    assert process.stdin
    assert process.stdout
    process.stdin.write("\n")
    process.stdin.flush()
    later = int(process.stdout.readline())

    assert len(reniced) == 4  # the main thread and three others
    assert {priority.nice_of(tid) for tid in priority.thread_ids(process.pid)} == {target}
    assert priority.nice_of(later) == target  # a thread started afterwards inherits it
    comm = (Path("/proc") / str(child) / "comm").read_text().strip()
    assert priority.children(process.pid, comm) == [child]
    assert priority.nice_of(child) == base  # containerd's place: untouched
