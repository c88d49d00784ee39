"""How many malloc arenas the C allocator may use in this process.

glibc gives each thread that contends for the allocator an arena of its own, up to eight
per core, and memory freed in an arena is seldom returned to the OS. A server here runs
SQLite in one worker thread per pooled connection (aiosqlite), so SQLite's page and
statement caches are spread over as many arenas, each fragmenting on its own. In the
5-minute soak the thread arenas' resident memory grew 11.6 -> 22.5 MB in four minutes while
the main heap and Python's own memory stayed flat; with two arenas it levelled off at 7 MB
after 80 s (README, "Memory"). `MALLOC_ARENA_MAX` does the same, but only when the variable
is set before the process starts, which `cloudtaskhub serve`, uvicorn's factory and a
test's server cannot all rely on; `mallopt` applies to arenas not yet created, and none
are before the first worker thread starts.
"""

from __future__ import annotations

import ctypes
import functools
import os

#: glibc's `M_ARENA_MAX` option of `mallopt(3)`.
_M_ARENA_MAX = -8


@functools.cache  # once per process: every app built in it (tests build many) asks again
def limit_malloc_arenas(arenas: int) -> bool:
    """Cap the C allocator's arenas at `arenas` (0: leave glibc's default); True if applied.

    A `MALLOC_ARENA_MAX` set in the environment wins: whoever set it chose for this process.
    Other C libraries (musl, macOS) have no per-thread arenas to cap: nothing to do there.
    """
    if arenas <= 0 or "MALLOC_ARENA_MAX" in os.environ:
        return False
    process = ctypes.CDLL(None)  # the symbols already loaded, the C library's among them
    if not hasattr(process, "mallopt") or not hasattr(process, "gnu_get_libc_version"):
        return False
    return bool(process.mallopt(_M_ARENA_MAX, arenas))
