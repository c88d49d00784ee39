"""Read deploy/stack.yml as `docker stack deploy` would see it for one shape.

The environment is built by the shell, exactly as deploy/deploy.mk builds it (the env file,
then deploy/shapes/<shape>.env); the stack is then interpolated with Compose's rules.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

ROOT = Path(__file__).resolve().parents[2]
STACK_FILE = ROOT / "deploy" / "stack.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SHAPES = ("allinone", "split")

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)
_PATH_PREFIX = re.compile(r"PathPrefix\(`([^`]+)`\)")


class MissingVariable(KeyError):
    """A `${NAME:?message}` variable is unset or empty."""


def shape_environment(shape: str, env_file: Path = ROOT / ".env.example") -> dict[str, str]:
    """The variables deploy/deploy.mk exports for `shape`, with `env_file` as the server's .env."""
    script = f'set -a; . "{env_file}"; CTH_SHAPE={shape}; . "./deploy/shapes/{shape}.env"; env -0'
    output = subprocess.run(
        ["sh", "-c", script],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(item.split("=", 1) for item in output.split("\0") if "=" in item)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose variable substitution: `$$`, `$X`, `${X}`, `${X-d}`, `${X:-d}`, `${X:?msg}`."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        current = env.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?"):
            if current is None or (op == ":?" and not current):
                raise MissingVariable(f"{name}: {arg}")
            return current
        return current or ""

    return _VARIABLE.sub(replace, value)


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(item, env) for key, item in node.items()}
    return node


def load_stack(env: Mapping[str, str]) -> dict[str, Any]:
    raw = yaml.safe_load(STACK_FILE.read_text())
    result: dict[str, Any] = _interpolate_tree(raw, env)
    return result


@dataclass(frozen=True)
class Router:
    name: str
    prefixes: tuple[str, ...]
    priority: int | None


@dataclass(frozen=True)
class AppService:
    """A service that runs `cloudtaskhub serve`."""

    name: str
    spec: dict[str, Any]

    @property
    def modules(self) -> tuple[str, ...]:
        command = [str(part) for part in self.spec["command"]]
        return tuple(command[command.index("--modules") + 1].split(","))

    @property
    def replicas(self) -> int:
        return int(self.spec["deploy"]["replicas"])

    @property
    def labels(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self.spec["deploy"].get("labels", {}).items()}

    @property
    def routed(self) -> bool:
        return self.replicas > 0 and self.labels.get("traefik.enable") == "true"

    @property
    def secrets(self) -> set[str]:
        return {s if isinstance(s, str) else s["source"] for s in self.spec.get("secrets", [])}

    def routers(self) -> list[Router]:
        found = []
        for key, rule in self.labels.items():
            match = re.fullmatch(r"traefik\.http\.routers\.([^.]+)\.rule", key)
            if not match:
                continue
            name = match[1]
            parts = [part.strip() for part in rule.split("||")]
            prefixes = tuple(p for part in parts for p in _PATH_PREFIX.findall(part))
            assert len(prefixes) == len(parts), f"router {name}: only PathPrefix rules: {rule}"
            priority = self.labels.get(f"traefik.http.routers.{name}.priority")
            found.append(Router(name, prefixes, int(priority) if priority else None))
        return found

    def prefixes(self) -> set[str]:
        return {prefix for router in self.routers() for prefix in router.prefixes}


def app_services(stack: Mapping[str, Any]) -> list[AppService]:
    return [
        AppService(name, spec)
        for name, spec in stack["services"].items()
        if "serve" in [str(part) for part in spec.get("command", [])]
    ]


def dockerfile_user() -> str:
    """The USER of the Dockerfile's `runtime` stage (the image that ships)."""
    stages = re.split(r"(?m)^FROM\s", DOCKERFILE.read_text())
    [runtime] = [stage for stage in stages if re.match(r"\S+\s+AS\s+runtime\b", stage)]
    users = re.findall(r"(?m)^USER\s+(\S+)", runtime)
    assert users, "the runtime stage sets no USER"
    return str(users[-1])
