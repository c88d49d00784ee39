"""What a fresh machine installs is what CI tested, and nothing shadows our packages."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

import entrypoints

ROOT = Path(__file__).resolve().parents[2]


def test_the_unrelated_entrypoints_distribution_is_not_installed() -> None:
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("entrypoints")
    assert Path(entrypoints.__file__).resolve().is_relative_to(ROOT)


def test_constraints_pin_every_dependency_exactly() -> None:
    lines = [
        line
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    assert lines
    assert all("==" in line for line in lines)
    assert not any(line.lower().startswith("entrypoints==") for line in lines)
