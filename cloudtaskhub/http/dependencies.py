"""Litestar resolves plain synchronous dependencies one after the other.

Litestar resolves the dependencies of one level concurrently, in an anyio task
group, whatever they are (litestar-org/litestar#4563). Ours are all plain
functions (`sync_to_thread=False`: the caller's principal, the page request, a
service bound to the runtime): run concurrently they gain nothing, and the task
group — a task per dependency, a cancel scope, a switch back to the loop — cost
about a third of the CPU of a short authenticated read here. `install()` makes a
level whose dependencies are all such functions resolve in order, in the request's
own task; a level with any coroutine, generator or thread dependency keeps
Litestar's task group. What a dependency receives, returns and raises is the same
(the first failure ends the request, as before).
"""

from __future__ import annotations

from typing import Any

from litestar._kwargs.cleanup import DependencyCleanupGroup
from litestar._kwargs.dependencies import DependencyContainer, resolve_dependency
from litestar._kwargs.kwargs_model import KwargsModel
from litestar.connection import ASGIConnection

__all__ = ["install"]

_ORIGINAL = KwargsModel.resolve_dependencies


def _plain(dependency: DependencyContainer) -> bool:
    provide = dependency.provide
    return bool(
        provide.has_sync_callable
        and not provide.sync_to_thread
        and not provide.has_sync_generator_dependency
        and not provide.has_async_generator_dependency
    )


async def _resolve_in_order(
    self: KwargsModel, connection: ASGIConnection[Any, Any, Any, Any], kwargs: dict[str, Any]
) -> DependencyCleanupGroup:
    batches = self.dependency_batches
    if not all(_plain(dependency) for batch in batches for dependency in batch):
        return await _ORIGINAL(self, connection, kwargs)
    cleanup_group = DependencyCleanupGroup()
    for batch in batches:
        for dependency in batch:
            await resolve_dependency(dependency, connection, kwargs, cleanup_group)
    return cleanup_group


def install() -> None:
    """Idempotent: every app of the process shares Litestar's class."""
    KwargsModel.resolve_dependencies = _resolve_in_order  # type: ignore[method-assign]
