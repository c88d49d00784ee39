"""Traefik routing generated from the one declaration: each module's `path_prefixes`.

The Swarm stack's labels are checked against the same declaration by a test, so
local runs, tests and production route every path to the same module.

    config = traefik_dynamic_config({"auth": "http://127.0.0.1:8101", ...})

A `/` prefix (the gateway's API index) gets its own router with the lowest
priority, so every longer prefix wins over it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cloudtaskhub.module import Module
from entrypoints.registry import ALL_MODULES

__all__ = [
    "ROOT_PRIORITY",
    "module_routes",
    "rule_for",
    "traefik_dynamic_config",
    "write_traefik_dynamic_config",
]

#: Priority of the catch-all `/` router; Traefik's default priority is the rule's
#: length, so every other router (which has no explicit priority) ranks above it.
ROOT_PRIORITY = 1


def module_routes(modules: Sequence[Module] = ALL_MODULES) -> dict[str, tuple[str, ...]]:
    """Module name -> the path prefixes it serves, as each module declares them."""
    return {module.name: tuple(module.path_prefixes) for module in modules if module.path_prefixes}


def rule_for(prefixes: Sequence[str]) -> str:
    return " || ".join(f"PathPrefix(`{prefix}`)" for prefix in prefixes)


def traefik_dynamic_config(
    upstreams: Mapping[str, str], modules: Sequence[Module] = ALL_MODULES
) -> dict[str, Any]:
    """Traefik file-provider configuration routing each module's prefixes to its URL.

    `upstreams` maps a module name to the base URL of the process serving it; the
    key `*` serves every module without an entry of its own (the all-in-one shape).
    """
    routers: dict[str, Any] = {}
    services: dict[str, Any] = {}
    for name, prefixes in module_routes(modules).items():
        url = upstreams.get(name) or upstreams.get("*")
        if url is None:
            raise ValueError(f"no upstream for module {name}")
        services[name] = {"loadBalancer": {"servers": [{"url": url}], "passHostHeader": True}}
        specific = [p for p in prefixes if p != "/"]
        if specific:
            routers[name] = {"rule": rule_for(specific), "service": name, "entryPoints": ["web"]}
        if "/" in prefixes:
            routers[f"{name}-root"] = {
                "rule": rule_for(["/"]),
                "service": name,
                "entryPoints": ["web"],
                "priority": ROOT_PRIORITY,
            }
    return {"http": {"routers": routers, "services": services}}


def write_traefik_dynamic_config(
    path: Path, upstreams: Mapping[str, str], modules: Sequence[Module] = ALL_MODULES
) -> Path:
    """Write the configuration as YAML (JSON is YAML) for `--providers.file.filename`."""
    path.write_text(json.dumps(traefik_dynamic_config(upstreams, modules), indent=2) + "\n")
    return path
