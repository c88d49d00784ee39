"""What an operator does to a running shape from outside, beside the client's HTTP calls."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["all_in_one_directory", "all_in_one_environment", "billing_period_closer"]


def all_in_one_directory(tmp_path: Path) -> Path:
    """Where the all-in-one fixtures of a test run their process."""
    return tmp_path / "all-in-one"


def all_in_one_environment(run_dir: Path) -> dict[str, str]:
    """Where an all-in-one process under `run_dir` keeps its data."""
    return {
        "CTH_DATA_DIR": str(run_dir),
        "CTH_DATABASE_URL": f"sqlite+aiosqlite:///{run_dir / 'cloudtaskhub.db'}",
    }


def billing_period_closer(env: Mapping[str, str]) -> Callable[[str], None]:
    """Billing's period close as its operator runs it (`cloudtaskhub billing close-period
    --at <moment>`), against the billing database of a running shape: it moves billing's
    clock, and the renewal events leave through the running billing process's outbox."""

    def close(at: str) -> None:
        done = subprocess.run(
            [str(Path(sys.executable).parent / "cloudtaskhub"), "billing", "close-period", "--at", at],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"close-period failed: {done.stderr[-2000:]}"
        assert "renewed" in done.stdout, done.stdout

    return close
