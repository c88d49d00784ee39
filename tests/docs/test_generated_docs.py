"""docs/generated: current, deterministic, valid AsyncAPI 3.0, one canvas per module."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from types import new_class
from uuid import uuid4

import jsonschema
import msgspec
import pytest
import referencing
from click.testing import CliRunner
from referencing.jsonschema import DRAFT7

import entrypoints.docs
from cloudtaskhub.docs import render_docs
from cloudtaskhub.docs.asyncapi import CLOUDEVENT_HEADERS
from cloudtaskhub.events.envelope import Envelope
from cloudtaskhub.events.kafka._records import record_for
from cloudtaskhub.module import Module
from entrypoints.cli import main
from entrypoints.registry import ALL_MODULES

GENERATED = Path(__file__).parents[2] / "docs" / "generated"
#: The official AsyncAPI 3.0.0 JSON Schema, vendored from the npm package
#: @asyncapi/specs 6.11.1 (Apache-2.0; see LICENSE-asyncapi-specs and NOTICE-asyncapi-specs).
ASYNCAPI_SCHEMA = Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json"


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return render_docs(ALL_MODULES)


@pytest.fixture(scope="module")
def asyncapi(rendered: dict[str, str]) -> dict:  # type: ignore[type-arg]
    return json.loads(rendered["asyncapi.json"])


def asyncapi_errors(document: dict) -> list[str]:  # type: ignore[type-arg]
    schema = json.loads(ASYNCAPI_SCHEMA.read_text())
    resource = referencing.Resource.from_contents(schema, default_specification=DRAFT7)
    registry = referencing.Registry().with_resource(schema["$id"], resource)
    validator = jsonschema.Draft7Validator(schema, registry=registry)
    return [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(document)]


def test_committed_docs_match_the_code(rendered):  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(main, ["docs", "--check", "--output", str(GENERATED)])

    assert result.exit_code == 0, f"{result.output}\nRun `cloudtaskhub docs` and commit docs/generated."


def test_docs_check_fails_when_a_contract_changes_and_docs_were_not_regenerated(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    runner.invoke(main, ["docs", "--output", str(tmp_path)], catch_exceptions=False)
    monkeypatch.setattr(entrypoints.docs, "ALL_MODULES", _with_changed_contract(ALL_MODULES))

    result = runner.invoke(main, ["docs", "--check", "--output", str(tmp_path)])

    assert result.exit_code == 1
    assert "asyncapi.json" in result.output
    assert "run `cloudtaskhub docs`" in result.output


def _with_changed_contract(modules: tuple[Module, ...]) -> tuple[Module, ...]:
    """The registry, with one published contract grown by an optional field."""
    module = next(m for m in modules if m.publishes)
    original = module.publishes[0]
    grown = new_class(
        original.__name__,
        (original,),
        {"frozen": True},
        lambda ns: ns.update({"__annotations__": {"added_later": str | None}, "added_later": None}),
    )
    changed = dataclasses.replace(module, publishes=[grown, *module.publishes[1:]])
    return tuple(changed if m is module else m for m in modules)


def test_generation_is_deterministic(rendered):  # type: ignore[no-untyped-def]
    assert render_docs(ALL_MODULES) == rendered


def test_asyncapi_document_validates_against_the_asyncapi_3_schema(asyncapi):  # type: ignore[no-untyped-def]
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi_errors(asyncapi) == []


def test_the_asyncapi_schema_check_rejects_an_invalid_document(asyncapi):  # type: ignore[no-untyped-def]
    broken = copy.deepcopy(asyncapi)
    next(iter(broken["operations"].values()))["action"] = "publish"  # an AsyncAPI 2 verb

    assert asyncapi_errors(broken) != []


def test_asyncapi_has_every_event_type_with_its_publishers_and_subscribers(asyncapi):  # type: ignore[no-untyped-def]
    documented = {
        m["x-cloudtaskhub"]["type"]: m["x-cloudtaskhub"] for m in asyncapi["components"]["messages"].values()
    }

    for module in ALL_MODULES:
        for contract in module.publishes:
            assert module.name in documented[contract.__event_type__]["publishers"]
        for subscription in module.subscriptions:
            subscribers = documented[subscription.event.__event_type__]["subscribers"]
            assert {"module": module.name, "handler": subscription.name} in subscribers


def test_asyncapi_channels_are_the_topics_of_publishing_modules(asyncapi):  # type: ignore[no-untyped-def]
    addresses = {name: channel["address"] for name, channel in asyncapi["channels"].items()}

    assert addresses == {m.name: f"cloudtaskhub.{m.name}.events" for m in ALL_MODULES}


def test_message_payloads_are_the_contracts_msgspec_schemas(asyncapi):  # type: ignore[no-untyped-def]
    schemas = asyncapi["components"]["schemas"]

    for module in ALL_MODULES:
        for contract in module.publishes:
            message = asyncapi["components"]["messages"][
                contract.__event_type__.removeprefix("cloudtaskhub.")
            ]
            payload = schemas[message["payload"]["$ref"].rsplit("/", 1)[1]]
            expected = msgspec.json.schema(contract)["$defs"][contract.__name__]
            assert sorted(payload["properties"]) == sorted(expected["properties"])
            assert sorted(payload.get("required", [])) == sorted(expected.get("required", []))


def test_documented_cloudevent_headers_are_those_the_kafka_bus_writes():
    envelope = Envelope(
        id=uuid4(),
        source="auth",
        type="cloudtaskhub.auth.user_registered.v1",
        time=datetime.now(UTC),
        subject="s",
        data=msgspec.Raw(b"{}"),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        tracestate="a=b",
        correlationid="c",
    )

    _, _, headers = record_for(envelope)

    assert {name for name, _ in headers} == set(CLOUDEVENT_HEADERS)
    required = {name for name, (needed, _) in CLOUDEVENT_HEADERS.items() if needed}
    assert required <= {
        name for name, _ in record_for(msgspec.structs.replace(envelope, traceparent=None))[2]
    }


def test_overview_diagram_has_an_arrow_for_every_publisher_and_subscriber_pair(rendered):  # type: ignore[no-untyped-def]
    overview = rendered["modules.md"]

    assert "```mermaid\nflowchart LR" in overview
    for module in ALL_MODULES:
        for subscription in module.subscriptions:
            publisher = subscription.event.event_source()
            if publisher != "*":
                assert f"  {publisher} -->|" in overview
                assert f"| {module.name}\n" in overview


@pytest.mark.parametrize("module", ALL_MODULES, ids=lambda m: m.name)
def test_each_module_canvas_shows_its_events_tables_and_settings(rendered, module):  # type: ignore[no-untyped-def]
    canvas = rendered[f"modules/{module.name}.md"]

    assert "```mermaid" in canvas
    for contract in module.publishes:
        assert f"`{contract.__event_type__.removeprefix('cloudtaskhub.')}`" in canvas
    for subscription in module.subscriptions:
        assert f"`{subscription.name}`" in canvas
    for table in module.metadata.tables:
        assert f"`{table}`" in canvas
    for prefix in module.path_prefixes:
        assert f"`{prefix}`" in canvas
    if module.settings is not None:
        assert f"`CTH_{module.name.upper()}_" in canvas


def test_module_canvases_list_the_module_endpoints_from_the_openapi_document(rendered):  # type: ignore[no-untyped-def]
    openapi = json.loads(rendered["openapi.json"])
    canvases = "\n".join(rendered[f"modules/{m.name}.md"] for m in ALL_MODULES)

    for path in openapi["paths"]:
        if path.startswith("/api/"):
            assert f"`{path}`" in canvases
