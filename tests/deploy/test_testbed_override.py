"""The test bed's override (deploy/testbed/stack.yml) changes only what the sandbox cannot
run as production does, so `make swarm-e2e` exercises the production stack.

Allowed: images; endpoint_mode dnsrr; the traefik.swarm.lbswarm label; resource limits and
reservations; port publishing mode; in Traefik's command, the HTTP->HTTPS redirect and ACME
(the web entrypoint may serve instead); Grafana at zero replicas (no package to build it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs
from stackfile import ROOT, STACK_FILE

OVERRIDE_FILE = ROOT / "deploy" / "testbed" / "stack.yml"
#: Traefik flags the override may drop or change: the redirect and ACME.
_REDIRECT_OR_ACME = (
    "--entrypoints.web.http.redirections.",
    "--certificatesresolvers.",
    "--entrypoints.websecure.http.tls.certresolver=",
)
#: Traefik flags it may add: the web entrypoint serving routers instead of redirecting.
_WEB_SERVES = ("--entrypoints.web.asDefault=", "--entrypoints.web.http.middlewares=")


def _leaves(tree: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(tree, list) and path[-1:] == ("ports",):
        for index, item in enumerate(tree):
            yield from _leaves(item, (*path, str(index)))
    else:
        yield path, tree


def _allowed_leaf(path: tuple[str, ...], value: Any) -> bool:
    match path:
        case ("version",):
            return True
        case ("services", _, "image"):
            return True
        case ("services", _, "deploy", "endpoint_mode"):
            return value == "dnsrr"
        case ("services", _, "deploy", "labels", "traefik.swarm.lbswarm"):
            return True
        case ("services", _, "deploy", "resources", "limits" | "reservations", "cpus" | "memory"):
            return True
        case ("services", _, "ports", _, "mode"):
            return True
        case ("services", "grafana", "deploy", "replicas"):
            return value == 0
        case ("services", "traefik", "command"):
            return True  # compared with production's below
    return False


def _traefik_command_violations(production: list[str], override: list[str]) -> list[str]:
    def kept(flags: list[str], extra: tuple[str, ...]) -> list[str]:
        return [f for f in flags if not f.startswith(_REDIRECT_OR_ACME + extra)]

    problems = []
    if kept(production, ()) != kept(override, _WEB_SERVES):
        problems.append(
            "services.traefik.command differs from production beyond the redirect and ACME: "
            f"{sorted(set(kept(production, ())) ^ set(kept(override, _WEB_SERVES)))}"
        )
    return problems


def violations(production: dict[str, Any], override: dict[str, Any]) -> list[str]:
    """Every key of `override` the test bed may not change, as a dotted path."""
    problems = []
    for path, value in _leaves(override):
        if path[:1] == ("services",) and len(path) > 1 and path[1] not in production["services"]:
            problems.append(f"services.{path[1]}: not a service of deploy/stack.yml")
        elif not _allowed_leaf(path, value):
            problems.append(f"{'.'.join(path)}: {value!r} may not be overridden")
    traefik = override.get("services", {}).get("traefik", {})
    if "command" in traefik:
        problems += _traefik_command_violations(
            production["services"]["traefik"]["command"], traefik["command"]
        )
    return problems


def _load(path: Any) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def test_the_testbed_override_changes_only_the_allowed_keys() -> None:
    assert violations(_load(STACK_FILE), _load(OVERRIDE_FILE)) == []


def test_the_rule_catches_an_environment_change_a_new_service_and_a_traefik_flag() -> None:
    production = _load(STACK_FILE)
    override = _load(OVERRIDE_FILE)
    override["services"]["app"]["environment"] = {"CTH_BUS": "memory"}
    override["services"]["app"]["deploy"] = {**override["services"]["app"]["deploy"], "replicas": 1}
    override["services"]["extra"] = {"image": "busybox"}
    override["services"]["traefik"]["command"] = [
        *override["services"]["traefik"]["command"],
        "--api.insecure=true",
    ]

    found = violations(production, override)

    assert any(v.startswith("services.app.environment.CTH_BUS") for v in found), found
    assert any(v.startswith("services.app.deploy.replicas") for v in found), found
    assert any(v.startswith("services.extra") for v in found), found
    assert any("--api.insecure=true" in v for v in found), found


def test_the_override_keeps_traefik_on_the_production_swarm_provider_and_entrypoints() -> None:
    command = _load(OVERRIDE_FILE)["services"]["traefik"]["command"]

    assert "--providers.swarm.endpoint=tcp://socket-proxy:2375" in command
    assert not any(flag.startswith("--entrypoints.web.http.redirections.") for flag in command)
