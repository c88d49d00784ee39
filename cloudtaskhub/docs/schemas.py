"""JSON Schemas of event contracts, from msgspec, in a stable form."""

from __future__ import annotations

import inspect
from typing import Any

import msgspec

from cloudtaskhub.events.contract import Event

__all__ = ["event_schema", "rewrite_refs"]


def event_schema(contract: type[Event]) -> dict[str, Any]:
    """`{"$ref": "#/$defs/<Name>", "$defs": {...}}` with docstrings dedented."""
    return _clean(msgspec.json.schema(contract))  # type: ignore[no-any-return]


def _clean(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: inspect.cleandoc(value) if key == "description" and isinstance(value, str) else _clean(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_clean(item) for item in node]
    return node


def rewrite_refs(node: Any, names: dict[str, str], template: str) -> Any:
    """Point `#/$defs/<name>` references at `template.format(name=names[name])`."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**node, "$ref": template.format(name=names[ref.removeprefix("#/$defs/")])}
        return {key: rewrite_refs(value, names, template) for key, value in node.items()}
    if isinstance(node, list):
        return [rewrite_refs(item, names, template) for item in node]
    return node
