"""The one list of modules. Adding a seventh module touches `modules/` and this list."""

from __future__ import annotations

from collections.abc import Iterable

from cloudtaskhub.module import Module
from modules.analytics import module as analytics
from modules.auth import module as auth
from modules.billing import module as billing
from modules.gateway import module as gateway
from modules.notification import module as notification
from modules.project import module as project

ALL_MODULES: tuple[Module, ...] = (gateway, auth, project, billing, notification, analytics)


def select_modules(names: Iterable[str]) -> list[Module]:
    """Modules by name, in registry order; `all` selects every module."""
    wanted = {n.strip() for n in names if n.strip()}
    if not wanted or "all" in wanted:
        return list(ALL_MODULES)
    known = {m.name for m in ALL_MODULES}
    unknown = sorted(wanted - known)
    if unknown:
        raise ValueError(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return [m for m in ALL_MODULES if m.name in wanted]
