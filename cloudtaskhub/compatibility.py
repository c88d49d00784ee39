"""The event contract compatibility gate.

`snapshot(contracts)` records the JSON Schema of every event type version (the
committed `contracts.lock`, taken at each release). `check(snapshot, contracts)`
compares today's contracts with it and reports every change that would break a
consumer or producer still running the released version during a rolling update:

- a field removed, or renamed (removed plus a new field of the same type);
- a field's type changed (including becoming or ceasing to be nullable);
- a new required field, or an optional field made required;
- an enum (`Literal`) narrowed: a released producer may still send the value;
- the subject field changed (it is the Kafka key, so ordering would change);
- an event type version removed while nothing newer of that event exists.

A breaking change to `...v1` passes once it is made as `...v2` instead (with
`__previous__` pointing at `v1` during the transition). Adding an optional field
passes. Widening an enum passes with a warning: consumers on the released version
reject the new value, so deploy them before producers send it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cloudtaskhub.docs.schemas import event_schema
from cloudtaskhub.events.contract import Event, parse_event_type

__all__ = ["FORMAT", "Finding", "Report", "check", "snapshot"]

FORMAT = 1
_DESCRIPTIVE = {"title", "description", "default", "examples"}


@dataclass(frozen=True, order=True)
class Finding:
    event: str
    field: str
    rule: str
    detail: str

    def __str__(self) -> str:
        where = f"field `{self.field}`" if self.field else "event type"
        return f"{self.event}: {where}: {self.rule}: {self.detail}"


@dataclass(frozen=True)
class Report:
    breaking: list[Finding]
    warnings: list[Finding]
    added: list[str]
    retired: list[str]

    @property
    def ok(self) -> bool:
        return not self.breaking

    def lines(self) -> list[str]:
        out = [f"BREAKING {finding}" for finding in self.breaking]
        if self.breaking:
            out.append(
                "A released event type version never changes incompatibly: publish the change as a "
                "new version (`event_type(..., N+1)`, with `__previous__` during the transition). "
                "See docs/operations.md, 'Event contract evolution'."
            )
        out.extend(f"warning {finding}" for finding in self.warnings)
        out.extend(f"new event type {type_}" for type_ in self.added)
        out.extend(f"retired {type_} (a newer version exists)" for type_ in self.retired)
        return out


def snapshot(contracts: Iterable[type[Event]]) -> dict[str, Any]:
    """The committed form of `contracts`: type -> subject and JSON Schema."""
    events = {
        contract.__event_type__: {"subject": contract.__subject__, "schema": event_schema(contract)}
        for contract in contracts
    }
    return {"format": FORMAT, "events": dict(sorted(events.items()))}


def dumps(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check(released: dict[str, Any], contracts: Sequence[type[Event]]) -> Report:
    """Compare `contracts` with the `released` snapshot."""
    if released.get("format") != FORMAT:
        raise ValueError(f"unknown contracts snapshot format {released.get('format')!r}")
    current = snapshot(contracts)["events"]
    breaking: list[Finding] = []
    warnings: list[Finding] = []
    retired: list[str] = []
    for type_, before in released["events"].items():
        after = current.get(type_)
        if after is None:
            if _has_newer(type_, current):
                retired.append(type_)
            else:
                breaking.append(Finding(type_, "", "event type removed", "no newer version replaces it"))
            continue
        if before["subject"] != after["subject"]:
            breaking.append(
                Finding(
                    type_,
                    after["subject"],
                    "subject changed",
                    f"was `{before['subject']}`: the key, and so the ordering, would change",
                )
            )
        comparison = _Comparison(type_, before["schema"], after["schema"])
        comparison.compare(before["schema"], after["schema"], "")
        breaking.extend(comparison.breaking)
        warnings.extend(comparison.warnings)
    added = sorted(set(current) - set(released["events"]))
    return Report(sorted(breaking), sorted(warnings), added, sorted(retired))


def _has_newer(type_: str, current: dict[str, Any]) -> bool:
    source, name, version = parse_event_type(type_)
    for other in current:
        other_source, other_name, other_version = parse_event_type(other)
        if (other_source, other_name) == (source, name) and other_version > version:
            return True
    return False


class _Comparison:
    def __init__(self, event: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        self.event = event
        self._defs = (before.get("$defs", {}), after.get("$defs", {}))
        self.breaking: list[Finding] = []
        self.warnings: list[Finding] = []

    def _fail(self, path: str, rule: str, detail: str) -> None:
        self.breaking.append(Finding(self.event, path, rule, detail))

    def _variants(self, node: dict[str, Any], side: int) -> dict[str, dict[str, Any]]:
        """A schema as its alternatives, keyed by kind: `null`, `enum`, `object`, `array`, scalars."""
        while "$ref" in node:
            node = self._defs[side][node["$ref"].removeprefix("#/$defs/")]
        members = node.get("anyOf") or node.get("oneOf")
        if members:
            found: dict[str, dict[str, Any]] = {}
            for member in members:
                for key, variant in self._variants(member, side).items():
                    if key == "enum" and key in found:
                        variant = {"enum": [*found[key]["enum"], *variant["enum"]]}
                    found[key] = variant
            return found
        if "enum" in node or "const" in node:
            values = node["enum"] if "enum" in node else [node["const"]]
            return {"enum": {"enum": values}}
        kind = node.get("type")
        if kind == "object" and "properties" in node:
            return {"object": node}
        if kind == "array":
            return {"array": node}
        signature = {k: v for k, v in node.items() if k not in _DESCRIPTIVE}
        return {json.dumps(signature, sort_keys=True): node}

    def _describe(self, variants: dict[str, dict[str, Any]]) -> str:
        parts = []
        for key, node in sorted(variants.items()):
            if key == "enum":
                parts.append("one of " + ", ".join(json.dumps(v) for v in node["enum"]))
            elif key == "object":
                parts.append(f"object {node.get('title', '')}".strip())
            elif key == "array":
                parts.append("array")
            else:
                signature = json.loads(key)
                text = str(signature.pop("type", "any"))
                if "format" in signature:
                    text += f" ({signature.pop('format')})"
                if signature:
                    text += " " + json.dumps(signature, sort_keys=True)
                parts.append(text)
        return " | ".join(parts)

    def compare(self, before: dict[str, Any], after: dict[str, Any], path: str) -> None:
        old, new = self._variants(before, 0), self._variants(after, 1)
        if set(old) != set(new):
            self._fail(path, "type changed", f"{self._describe(old)} → {self._describe(new)}")
            return
        for key in old:
            if key == "enum":
                self._compare_enum(old[key]["enum"], new[key]["enum"], path)
            elif key == "object":
                self._compare_object(old[key], new[key], path)
            elif key == "array":
                self.compare(old[key].get("items", {}), new[key].get("items", {}), f"{path}[]")

    def _compare_enum(self, before: list[Any], after: list[Any], path: str) -> None:
        dropped = [v for v in before if v not in after]
        extra = [v for v in after if v not in before]
        if dropped:
            values = ", ".join(json.dumps(v) for v in dropped)
            self._fail(path, "enum narrowed", f"{values} no longer allowed")
        if extra:
            values = ", ".join(json.dumps(v) for v in extra)
            self.warnings.append(
                Finding(
                    self.event, path, "enum widened", f"{values} added: deploy consumers before producers"
                )
            )

    def _compare_object(self, before: dict[str, Any], after: dict[str, Any], path: str) -> None:
        prefix = f"{path}." if path else ""
        old, new = before.get("properties", {}), after.get("properties", {})
        old_required, new_required = set(before.get("required", [])), set(after.get("required", []))
        added = [name for name in new if name not in old]
        renamed: set[str] = set()
        for name in old:
            if name in new:
                continue
            shape = self._describe(self._variants(old[name], 0))
            twin = next(
                (a for a in added if a not in renamed and self._describe(self._variants(new[a], 1)) == shape),
                None,
            )
            if twin is not None:
                renamed.add(twin)
                self._fail(f"{prefix}{name}", "field renamed", f"now `{prefix}{twin}`?")
            else:
                self._fail(f"{prefix}{name}", "field removed", "consumers of this version read it")
        for name in added:
            if name in new_required and name not in renamed:
                self._fail(f"{prefix}{name}", "new required field", "give it a default to add it compatibly")
        for name in old:
            if name not in new:
                continue
            if name in new_required and name not in old_required:
                self._fail(f"{prefix}{name}", "field became required", "released producers may leave it out")
            self.compare(old[name], new[name], f"{prefix}{name}")
