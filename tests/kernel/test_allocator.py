"""The C allocator's arena cap (`cloudtaskhub.allocator`), seen in glibc's own statistics."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cloudtaskhub.settings import SettingsError, load_settings

# Eight threads alive at once, each allocating outside Python's small-object allocator;
# then glibc's malloc_stats() prints one "Arena N:" block per arena to stderr.
_THREADS_ALLOCATING = """
import ctypes, ctypes.util, sys, threading
from cloudtaskhub.allocator import limit_malloc_arenas
print(limit_malloc_arenas(int(sys.argv[1])))
barrier = threading.Barrier(8)
def work():
    held = [bytearray(100_000) for _ in range(20)]
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
"""


def _arenas(cap: int, **environ: str) -> tuple[bool, int]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"} | environ
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_ALLOCATING, str(cap)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    return done.stdout.strip() == "True", done.stderr.count("Arena ")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_threads_share_the_capped_number_of_arenas() -> None:
    capped, arenas = _arenas(0)
    assert not capped
    assert arenas > 2  # glibc's default: the main arena and one per thread
    assert _arenas(2) == (True, 2)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_malloc_arena_max_in_the_environment_wins() -> None:
    assert _arenas(2, MALLOC_ARENA_MAX="4") == (False, 4)


def test_a_negative_arena_count_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CTH_MALLOC_ARENA_MAX"):
        load_settings(environ={"CTH_MALLOC_ARENA_MAX": "-1"})
