"""The README's configuration table names every variable the code reads."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from cloudtaskhub.settings import Settings, _variable_name
from entrypoints.registry import ALL_MODULES

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_kernel_setting_is_documented() -> None:
    names = [_variable_name("CTH_", f.name) for f in fields(Settings) if f.name != "extra"]

    assert [n for n in names if f"`{n}`" not in README] == []


def test_every_module_setting_is_documented() -> None:
    names = [
        f"CTH_{module.name.upper()}_{f.name.upper()}"
        for module in ALL_MODULES
        if module.settings is not None
        for f in fields(module.settings)
    ]

    assert [n for n in names if f"`{n}`" not in README] == []


def test_the_module_diagram_is_the_generated_one() -> None:
    generated = (Path(__file__).resolve().parents[2] / "docs" / "generated" / "modules.md").read_text()
    start = generated.index("```mermaid")
    diagram = generated[start : generated.index("```", start + 3) + 3]

    assert diagram in README


def test_the_benchmark_table_is_the_latest_results() -> None:
    from bench.report import markdown

    results = Path(__file__).resolve().parents[2] / "bench" / "results" / "latest.json"

    assert markdown(json.loads(results.read_text())).strip() in README


def test_the_event_spine_table_is_the_latest_spine_results() -> None:
    from bench.report import markdown

    results = Path(__file__).resolve().parents[2] / "bench" / "results" / "spine-latest.json"

    assert markdown(json.loads(results.read_text())).strip() in README
