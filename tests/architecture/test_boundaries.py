"""Module boundaries are enforced by import-linter — and it really catches a violation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def run_lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_boundaries_hold() -> None:
    result = run_lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr


def test_a_forbidden_import_breaks_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    for name in ("cloudtaskhub", "modules", "entrypoints"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", copy / ".importlinter")
    (copy / "modules" / "gateway" / "sneaky.py").write_text("from modules.auth.models import UserModel\n")

    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode != 0
    assert "modules.gateway.sneaky -> modules.auth.models" in result.stdout
