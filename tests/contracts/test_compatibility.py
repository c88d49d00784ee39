"""The contract compatibility gate: each breaking change kind fails, naming event, field and rule."""

from __future__ import annotations

import json
from pathlib import Path
from types import new_class
from typing import Any, Literal
from uuid import UUID

import pytest
from click.testing import CliRunner

import entrypoints.docs
from cloudtaskhub import compatibility
from cloudtaskhub.docs import EventCatalog
from cloudtaskhub.events.contract import Event, event_type
from entrypoints.cli import main
from entrypoints.registry import ALL_MODULES

TYPE = "cloudtaskhub.shop.parcel_shipped.v1"
RELEASED = {"parcel_id": UUID, "destination": str, "size": Literal["s", "m", "l"], "weight": int}


def parcel(
    fields: dict[str, Any], *, version: int = 1, subject: str = "parcel_id", **defaults: Any
) -> type[Event]:
    def body(namespace: dict[str, Any]) -> None:
        namespace["__annotations__"] = fields
        namespace["__event_type__"] = event_type("shop", "parcel_shipped", version)
        namespace["__subject__"] = subject
        namespace.update(defaults)

    return new_class("ParcelShipped", (Event,), {"frozen": True}, body)


def check_against_release(changed: type[Event]) -> compatibility.Report:
    released = compatibility.snapshot([parcel(RELEASED)])
    return compatibility.check(released, [changed])


def only_breaking(report: compatibility.Report) -> str:
    assert len(report.breaking) == 1, report.lines()
    return str(report.breaking[0])


def test_a_removed_field_fails_naming_event_field_and_rule():
    fields = {k: v for k, v in RELEASED.items() if k != "weight"}

    message = only_breaking(check_against_release(parcel(fields)))

    assert message.startswith(f"{TYPE}: field `weight`: field removed")


def test_a_renamed_field_fails():
    fields = {"parcel_id": UUID, "address": str, "size": Literal["s", "m", "l"], "weight": int}

    message = only_breaking(check_against_release(parcel(fields)))

    assert message == f"{TYPE}: field `destination`: field renamed: now `address`?"


def test_a_changed_type_fails():
    message = only_breaking(check_against_release(parcel({**RELEASED, "weight": float})))

    assert message == f"{TYPE}: field `weight`: type changed: integer → number"


def test_a_field_becoming_nullable_is_a_changed_type():
    message = only_breaking(check_against_release(parcel({**RELEASED, "destination": str | None})))

    assert message == f"{TYPE}: field `destination`: type changed: string → null | string"


def test_a_new_required_field_fails():
    message = only_breaking(check_against_release(parcel({**RELEASED, "insured": bool})))

    assert message.startswith(f"{TYPE}: field `insured`: new required field")


def test_a_narrowed_enum_fails():
    message = only_breaking(check_against_release(parcel({**RELEASED, "size": Literal["s", "m"]})))

    assert message == f'{TYPE}: field `size`: enum narrowed: "l" no longer allowed'


def test_an_optional_field_made_required_fails():
    released = compatibility.snapshot([parcel({**RELEASED, "note": str}, note="")])

    report = compatibility.check(released, [parcel({**RELEASED, "note": str})])

    assert only_breaking(report).startswith(f"{TYPE}: field `note`: field became required")


def test_a_changed_subject_fails():
    message = only_breaking(check_against_release(parcel(RELEASED, subject="destination")))

    assert message.startswith(f"{TYPE}: field `destination`: subject changed")


def test_a_removed_event_type_without_successor_fails():
    report = compatibility.check(compatibility.snapshot([parcel(RELEASED)]), [])

    assert only_breaking(report) == f"{TYPE}: event type: event type removed: no newer version replaces it"


def test_adding_an_optional_field_passes():
    report = check_against_release(parcel({**RELEASED, "note": str | None}, note=None))

    assert report.ok
    assert report.lines() == []


def test_widening_an_enum_passes_with_a_warning():
    report = check_against_release(parcel({**RELEASED, "size": Literal["s", "m", "l", "xl"]}))

    assert report.ok
    assert [str(w) for w in report.warnings] == [
        f'{TYPE}: field `size`: enum widened: "xl" added: deploy consumers before producers'
    ]


def test_a_breaking_change_passes_as_a_bumped_version_beside_the_released_one():
    v1 = parcel(RELEASED)
    v2 = parcel({"parcel_id": UUID, "address": str, "weight_grams": int}, version=2)

    report = compatibility.check(compatibility.snapshot([v1]), [v1, v2])

    assert report.ok
    assert report.added == ["cloudtaskhub.shop.parcel_shipped.v2"]


def test_retiring_a_version_once_a_newer_one_exists_passes():
    v2 = parcel({"parcel_id": UUID, "address": str}, version=2)

    report = compatibility.check(compatibility.snapshot([parcel(RELEASED)]), [v2])

    assert report.ok
    assert report.retired == [TYPE]


def test_a_breaking_change_inside_a_nested_struct_names_the_path():
    import msgspec

    class Box(msgspec.Struct, frozen=True):
        width: int
        height: int

    class Slim(msgspec.Struct, frozen=True):
        width: int

    released = compatibility.snapshot([parcel({**RELEASED, "box": Box})])
    report = compatibility.check(released, [parcel({**RELEASED, "box": Slim})])

    assert only_breaking(report).startswith(f"{TYPE}: field `box.height`: field removed")


def test_the_cli_fails_on_a_breaking_change_and_names_it(tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    snapshot = compatibility.snapshot(EventCatalog(ALL_MODULES).contracts)
    released_type = next(iter(snapshot["events"]))
    schema = snapshot["events"][released_type]["schema"]
    root = schema["$defs"][schema["$ref"].removeprefix("#/$defs/")]
    root["properties"]["field_we_since_removed"] = {"type": "string"}
    lock = tmp_path / "contracts.lock"
    lock.write_text(json.dumps(snapshot))

    result = CliRunner().invoke(main, ["contracts", "check", "--against", str(lock)])

    assert result.exit_code == 1
    assert f"BREAKING {released_type}: field `field_we_since_removed`: field removed" in result.output


def test_the_cli_snapshot_then_check_passes(tmp_path: Path):
    lock = tmp_path / "contracts.lock"
    runner = CliRunner()

    runner.invoke(main, ["contracts", "snapshot", "--output", str(lock)], catch_exceptions=False)
    result = runner.invoke(main, ["contracts", "check", "--against", str(lock)])

    assert result.exit_code == 0, result.output
    assert json.loads(lock.read_text())["format"] == compatibility.FORMAT


def test_current_contracts_are_compatible_with_the_committed_release_snapshot():
    released = json.loads((Path(__file__).parents[2] / entrypoints.docs.SNAPSHOT).read_text())

    report = compatibility.check(released, EventCatalog(ALL_MODULES).contracts)

    assert report.ok, "\n".join(report.lines())


@pytest.mark.parametrize("kind", ["uuid", "datetime", "list"])
def test_unchanged_contracts_of_every_field_kind_pass(kind: str):
    from datetime import datetime

    extra = {"uuid": UUID, "datetime": datetime, "list": list[str]}[kind]
    contract = parcel({**RELEASED, "extra": extra})

    assert compatibility.check(compatibility.snapshot([contract]), [contract]).lines() == []
