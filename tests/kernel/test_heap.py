"""The served process's startup heap is frozen (`cloudtaskhub.heap`), and only the served one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Starts the app the way uvicorn does (the entry point's factory, then its lifespan) and
# prints how many objects the collector's full passes skip from then on.
_SERVED = """
import gc
from litestar.testing import TestClient
from entrypoints.asgi import create_selected
print(gc.get_freeze_count())
with TestClient(create_selected()) as client:
    assert client.get("/health/live").status_code == 200
    print(gc.get_freeze_count())
"""

_BUILT_FOR_A_TEST = """
import gc, os
from litestar.testing import TestClient
from cloudtaskhub.app import create_app
from cloudtaskhub.testing import test_settings
from entrypoints.registry import ALL_MODULES
settings = test_settings(os.environ["CTH_DATABASE_URL"], os.environ["CTH_DATA_DIR"])
with TestClient(create_app(ALL_MODULES, settings)) as client:
    assert client.get("/health/live").status_code == 200
    print(gc.get_freeze_count())
"""


def _run(program: str, tmp_path: Path) -> list[int]:
    environ = os.environ | {
        "CTH_ENV": "test",
        "CTH_DATA_DIR": str(tmp_path),
        "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        "CTH_DB_BOOTSTRAP": "create",
        "CTH_LOG_LEVEL": "WARNING",
    }
    run = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=environ, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    return [int(line) for line in run.stdout.split()]


def test_the_served_app_freezes_the_heap_it_started_with(tmp_path: Path) -> None:
    before, started = _run(_SERVED, tmp_path)

    assert before == 0
    assert started > 50_000  # the modules, their tables and routes: tens of thousands of objects


def test_an_app_built_by_the_factory_alone_freezes_nothing(tmp_path: Path) -> None:
    (started,) = _run(_BUILT_FOR_A_TEST, tmp_path)

    assert started == 0
