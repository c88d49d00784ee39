"""The documents the peers answer with: real answers of our endpoints, saved by the bench.

`BENCH_PAGE_FILE`: a 20-task page of the list; `BENCH_TASK_FILE`: one task;
`BENCH_DASHBOARD_FILE`: the owner's dashboard. The last two are optional (an empty
object when unset), so a peer can still be started for the list alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _load(variable: str) -> dict[str, Any]:
    name = os.environ.get(variable)
    document: dict[str, Any] = json.loads(Path(name).read_text()) if name else {}
    return document


def load_page() -> dict[str, Any]:
    page: dict[str, Any] = json.loads(Path(os.environ["BENCH_PAGE_FILE"]).read_text())
    return page


def load_task() -> dict[str, Any]:
    return _load("BENCH_TASK_FILE")


def load_dashboard() -> dict[str, Any]:
    return _load("BENCH_DASHBOARD_FILE")
