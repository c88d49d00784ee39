"""Generated documentation, read from module descriptors (no module is named here).

`render_docs(modules)` returns every file of `docs/generated/` as text:

- `asyncapi.json` — AsyncAPI 3.0 document of every event type;
- `openapi.json` — the all-in-one app's OpenAPI document;
- `modules.md` — Mermaid diagram of modules and the events between them, and the
  event catalog;
- `modules/<name>.md` — one canvas per module: endpoints, events published and
  consumed, tables, settings.

Output is deterministic (sorted keys, no timestamps), so `stale_files` can tell
whether the committed copy matches the code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloudtaskhub.docs.asyncapi import asyncapi_document
from cloudtaskhub.docs.catalog import EventCatalog
from cloudtaskhub.docs.diagrams import module_canvas, modules_overview
from cloudtaskhub.docs.http import module_endpoints, openapi_document
from cloudtaskhub.module import Module

__all__ = ["EventCatalog", "render_docs", "stale_files", "to_json", "write_docs"]


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_docs(modules: Sequence[Module]) -> dict[str, str]:
    """Relative path -> content of every generated file."""
    catalog = EventCatalog(modules)
    endpoints = module_endpoints(modules)
    files = {
        "asyncapi.json": to_json(asyncapi_document(catalog)),
        "openapi.json": to_json(openapi_document(modules)),
        "modules.md": modules_overview(catalog),
    }
    for module in modules:
        files[f"modules/{module.name}.md"] = module_canvas(module, catalog, endpoints[module.name])
    return {path: text if text.endswith("\n") else text + "\n" for path, text in sorted(files.items())}


def stale_files(directory: Path, files: dict[str, str]) -> list[str]:
    """Files missing, different, or no longer generated under `directory`."""
    stale = [path for path, text in files.items() if _read(directory / path) != text]
    if directory.exists():
        present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
        stale.extend(sorted(present - set(files)))
    return stale


def write_docs(directory: Path, files: dict[str, str]) -> list[str]:
    """Write `files` under `directory`, removing generated files no longer produced."""
    changed = stale_files(directory, files)
    for path in changed:
        target = directory / path
        if path in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(files[path], encoding="utf-8")
        else:
            target.unlink()
    return changed


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
