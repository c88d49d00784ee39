"""An AsyncAPI 3.0 document of every event type, built from module descriptors.

Channels are the Kafka topics (one per publishing module), messages the contracts
with their msgspec JSON Schemas and the CloudEvents binary-mode headers, and
operations say which module sends and which module receives what.
"""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

from cloudtaskhub.docs.catalog import CatalogEntry, EventCatalog
from cloudtaskhub.docs.schemas import event_schema, rewrite_refs
from cloudtaskhub.events.bus import topic_for
from cloudtaskhub.events.kafka import dlq_topic, group_id

__all__ = ["CLOUDEVENT_HEADERS", "asyncapi_document"]

_BINDING = "0.5.0"
_SCHEMAS = "#/components/schemas/{name}"

#: Kafka record headers of an event (CloudEvents 1.0, binary content mode): name ->
#: (required, schema).
CLOUDEVENT_HEADERS: dict[str, tuple[bool, dict[str, Any]]] = {
    "ce_specversion": (True, {"type": "string", "const": "1.0"}),
    "ce_id": (True, {"type": "string", "format": "uuid", "description": "Event id (UUIDv7)."}),
    "ce_source": (True, {"type": "string", "description": "The publishing module."}),
    "ce_type": (True, {"type": "string"}),
    "ce_time": (True, {"type": "string", "format": "date-time"}),
    "ce_subject": (True, {"type": "string", "description": "The aggregate id; also the record key."}),
    "content-type": (True, {"type": "string", "const": "application/json"}),
    "traceparent": (False, {"type": "string", "description": "W3C trace context."}),
    "tracestate": (False, {"type": "string", "description": "W3C trace context."}),
    "ce_correlationid": (False, {"type": "string", "description": "Correlation id of the request."}),
}


def _version() -> str:
    try:
        return importlib.metadata.version("cloudtaskhub")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def _headers(entry: CatalogEntry) -> dict[str, Any]:
    properties = {name: dict(schema) for name, (_, schema) in CLOUDEVENT_HEADERS.items()}
    if entry.contract.event_source() == "*":
        name, version = entry.contract.event_name(), entry.contract.event_version()
        properties["ce_type"]["pattern"] = rf"^cloudtaskhub\.[a-z_]+\.{name}\.v{version}$"
    else:
        properties["ce_type"]["const"] = entry.type
    properties["ce_source"]["enum"] = sorted(entry.publishers)
    properties["ce_subject"]["description"] = f"The `{entry.contract.__subject__}` of the event."
    return {
        "type": "object",
        "properties": properties,
        "required": [name for name, (required, _) in CLOUDEVENT_HEADERS.items() if required],
    }


def _schemas(catalog: EventCatalog) -> tuple[dict[str, Any], dict[str, str]]:
    """components.schemas, and event type -> the schema name of its payload."""
    components: dict[str, Any] = {}
    payloads: dict[str, str] = {}
    for entry in catalog.entries:
        schema = event_schema(entry.contract)
        root = schema["$ref"].removeprefix("#/$defs/")
        names: dict[str, str] = {}
        for name, definition in schema["$defs"].items():
            component = entry.short_type if name == root else name
            if component in components and components[component] != definition:
                component = f"{entry.short_type}.{name}"
            names[name] = component
        for name, definition in schema["$defs"].items():
            components[names[name]] = rewrite_refs(definition, names, _SCHEMAS)
        payloads[entry.type] = names[root]
    return components, payloads


def _message(entry: CatalogEntry, payload: str) -> dict[str, Any]:
    doc = (entry.contract.__doc__ or "").strip()
    message: dict[str, Any] = {
        "name": entry.short_type,
        "title": entry.contract.__name__,
        "summary": doc.splitlines()[0] if doc else entry.short_type,
        "contentType": "application/json",
        "headers": _headers(entry),
        "payload": {"$ref": _SCHEMAS.format(name=payload)},
        "correlationId": {"location": "$message.header#/ce_correlationid"},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": f"`{entry.contract.__subject__}`"},
                "bindingVersion": _BINDING,
            }
        },
        "x-cloudtaskhub": {
            "type": entry.type,
            "subject": entry.contract.__subject__,
            "durable": entry.contract.__durable__,
            "publishers": sorted(entry.publishers),
            "subscribers": [{"module": s.module, "handler": s.handler} for s in entry.listeners],
            **({"publishedBy": "kernel (every module's process)"} if entry.kernel else {}),
            **(
                {"successor": entry.successor.__event_type__, "dualPublished": True}
                if entry.successor is not None
                else {}
            ),
        },
    }
    if doc:
        message["description"] = inspect.cleandoc(doc)
    return message


def asyncapi_document(catalog: EventCatalog, title: str = "CloudTaskHub events") -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of `catalog`."""
    schemas, payloads = _schemas(catalog)
    messages = {entry.short_type: _message(entry, payloads[entry.type]) for entry in catalog.entries}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for module in sorted(m.name for m in catalog.modules):
        published = catalog.published_by(module)
        if not published:
            continue
        channels[module] = {
            "address": topic_for(module),
            "title": f"{module} events",
            "description": (
                f"Every event the {module} module publishes, keyed by subject so the events "
                "of one aggregate stay ordered. On the in-process bus the same envelopes are "
                "handed to consumers directly."
            ),
            "messages": {e.short_type: {"$ref": f"#/components/messages/{e.short_type}"} for e in published},
            "bindings": {"kafka": {"topic": topic_for(module), "bindingVersion": _BINDING}},
        }
        operations[f"{module}.publish"] = {
            "action": "send",
            "title": f"{module} publishes",
            "summary": "From the outbox, by the relay, after the transaction commits.",
            "channel": {"$ref": f"#/channels/{module}"},
            "messages": [{"$ref": f"#/channels/{module}/messages/{e.short_type}"} for e in published],
        }
    for subscriber in sorted({s for e in catalog.entries for s in e.subscribers}):
        consumed = catalog.consumed_by(subscriber)
        for publisher in channels:
            taken = [e for e in consumed if publisher in e.publishers]
            if not taken:
                continue
            handlers = sorted(
                {f"{e.short_type}: {s.handler}" for e in taken for s in e.listeners if s.module == subscriber}
            )
            operations[f"{subscriber}.consume.{publisher}"] = {
                "action": "receive",
                "title": f"{subscriber} consumes from {publisher}",
                "summary": f"Handled exactly once per event through the {subscriber} inbox.",
                "description": (
                    f"Handlers: {'; '.join(handlers)}. After repeated failures an event goes to "
                    f"`{dlq_topic(subscriber)}` (Kafka) or the `{subscriber}_dead_letters` table."
                ),
                "channel": {"$ref": f"#/channels/{publisher}"},
                "messages": [{"$ref": f"#/channels/{publisher}/messages/{e.short_type}"} for e in taken],
                "bindings": {
                    "kafka": {
                        "groupId": {"type": "string", "const": group_id(subscriber)},
                        "bindingVersion": _BINDING,
                    }
                },
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": _version(),
            "description": (
                "Every event type the modules exchange, generated from the module descriptors "
                "(`cloudtaskhub docs`). Events travel as CloudEvents 1.0 in binary content mode: "
                "attributes in `ce_*` headers, the contract as the JSON value. Consumers ignore "
                "unknown fields and skip unknown types."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The Kafka-protocol broker of a deployment.",
                "variables": {
                    "bootstrap": {"default": "127.0.0.1:9092", "description": "CTH_KAFKA_BOOTSTRAP"}
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }
