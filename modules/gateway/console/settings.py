"""The console's configuration, read from `CTH_CONSOLE_*`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConsoleSettings"]


@dataclass(frozen=True, kw_only=True)
class ConsoleSettings:
    """Operator links shown in the system view; empty means "not deployed here"."""

    grafana_url: str = ""
    jaeger_url: str = ""
    prometheus_url: str = ""
