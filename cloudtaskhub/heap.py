"""The served process's startup heap, kept out of the cyclic garbage collector's full passes.

CPython's collector walks every tracked container object of a generation when it
collects it. By the time a server is ready, the all-in-one process holds about 180,000
of them that live as long as the process does: the modules' SQLAlchemy tables and
mappers, Litestar's routes, signature models and OpenAPI types, msgspec structs,
compiled statements. A full (generation 2) collection walked them all, 150-280 ms on
the bench's loaded core, and ran every few seconds under load; all the event loop's
requests waited for it (issue #17: bench/optimizations.json, "gc-freeze-startup-heap").
Whether that pause was the list's p99 at 50 connections is not shown: a later A/B with
and without the freeze measured the same p99 (bench/results/ab-regressions-2026-11-30.json),
and the p99's cause is still open (bench/results/list-p99-probe-2026-11-30.json).

`freeze_startup_heap` collects once, then moves every surviving object into the
permanent generation (`gc.freeze()`): full collections walk only what was allocated
since (~20 ms in the same runs). Nothing changes for memory that reference counting
frees, which is almost all of a request's garbage; an object frozen at startup that
later becomes cyclic garbage is never reclaimed, which for objects that live as long
as the app (every one of them, once startup is over) costs nothing.

Only the served process does this (the uvicorn factories in `entrypoints.asgi`): a test
process builds and drops many apps, and freezing each would keep them all.
"""

from __future__ import annotations

import gc
import logging

__all__ = ["freeze_startup_heap"]

log = logging.getLogger("cloudtaskhub.heap")


def freeze_startup_heap() -> int:
    """Collect, then exempt every live object from later collections; how many were frozen."""
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d objects of the startup heap", frozen)
    return frozen
