"""The HTTP side of the docs: the all-in-one OpenAPI document and each module's endpoints.

Both come from apps built by the one app factory, so they are what a process
really serves. A module's endpoints are those of an app mounting it alone (the
split shape) minus those every process serves (health, schema).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudtaskhub.module import Module
from cloudtaskhub.settings import Settings, load_settings

__all__ = ["Endpoint", "module_endpoints", "openapi_document"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True, order=True)
class Endpoint:
    path: str
    method: str
    summary: str


def _settings(data_dir: str) -> Settings:
    # Nothing from the environment: the documents must not depend on who runs the command.
    return load_settings(
        environ={},
        env="test",
        data_dir=Path(data_dir),
        db_bootstrap="none",
        log_format="text",
        log_level="WARNING",
    )


def _schema(modules: Sequence[Module], data_dir: str) -> dict[str, Any]:
    from cloudtaskhub.app import create_app  # the app factory imports every kernel part

    app = create_app(modules, _settings(data_dir), environ={})
    return app.openapi_schema.to_schema()


def openapi_document(modules: Sequence[Module]) -> dict[str, Any]:
    """The OpenAPI document of an app mounting `modules`."""
    with tempfile.TemporaryDirectory() as data_dir:
        return _schema(modules, data_dir)


def _endpoints(schema: dict[str, Any]) -> set[Endpoint]:
    return {
        Endpoint(path, method.upper(), str(operation.get("summary", "")))
        for path, item in schema.get("paths", {}).items()
        for method, operation in item.items()
        if method in _METHODS
    }


def module_endpoints(modules: Sequence[Module]) -> dict[str, list[Endpoint]]:
    """Module name -> the endpoints it adds to a process, sorted by path and method."""
    with tempfile.TemporaryDirectory() as data_dir:
        everywhere = _endpoints(_schema([], data_dir))
        return {
            module.name: sorted(_endpoints(_schema([module], data_dir)) - everywhere) for module in modules
        }
