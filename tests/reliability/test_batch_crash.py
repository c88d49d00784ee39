"""A process SIGKILLed in the middle of a consumer's batch: the batch in hand rolls
back as a whole (its events' savepoints were released, not committed), the batches
before it stay committed, and after a restart every event has taken effect exactly
once. In-process bus on SQLite, where the outbox is the only durable copy."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.batch_process import BATCH_MAX, CONSUMER

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 200
#: In the second batch, past its first half.
KILL_AT = BATCH_MAX + BATCH_MAX * 3 // 4


def run(database: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tests.support.batch_process", f"sqlite+aiosqlite:///{database}"]
    return subprocess.run(
        [*command, str(EVENTS), str(kill_at)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def tally(database: Path) -> dict[int, int]:
    with sqlite3.connect(database, timeout=5) as connection:
        rows = connection.execute(f"SELECT seq, times FROM {CONSUMER}_tally").fetchall()  # noqa: S608
    return dict(rows)


def test_a_process_killed_mid_batch_and_restarted_applies_every_event_exactly_once(tmp_path: Path) -> None:
    database = tmp_path / "batch.db"

    killed = run(database, KILL_AT)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    before_restart = tally(database)
    restarted = run(database, -1)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr

    # The first batch committed; nothing of the batch in hand did.
    assert sorted(before_restart) == list(range(BATCH_MAX))
    assert tally(database) == dict.fromkeys(range(EVENTS), 1)
