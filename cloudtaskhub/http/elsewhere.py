"""The paths of the deployment's modules that this process does not run.

At the edge, a module with no running task has no router (Traefik drops the routers of
a service without tasks), so its paths fall through to the gateway's catch-all. Its
answer there is 503 problem+json with `Retry-After`: the endpoint exists, the module
that serves it is not up right now. A 404 would tell a client the endpoint does not
exist, and a client that retries on 503 would give up instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import HttpMethod, route

from cloudtaskhub.errors import Unavailable
from cloudtaskhub.module import Module

__all__ = ["elsewhere_handlers"]

#: HEAD and OPTIONS stay with Litestar (HEAD of a GET, CORS preflights).
_METHODS = [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.PATCH, HttpMethod.DELETE]


def elsewhere_handlers(mounted: Sequence[Module], deployment: Sequence[Module]) -> list[Any]:
    """One handler per module of `deployment` not in `mounted`, on its path prefixes
    (not the catch-all `/`), answering 503. None in the all-in-one shape."""
    here = {module.name for module in mounted}
    handlers: list[Any] = []
    for module in deployment:
        prefixes = [prefix for prefix in module.path_prefixes if prefix != "/"]
        if module.name in here or not prefixes:
            continue
        paths = [path for prefix in prefixes for path in (prefix, f"{prefix}/{{rest:path}}")]
        handlers.append(_unavailable(module.name, paths))
    return handlers


def _unavailable(name: str, paths: list[str]) -> Any:
    reason = f"the {name} module is not available right now; retry shortly"

    @route(
        paths, http_method=_METHODS, name=f"elsewhere:{name}", include_in_schema=False, sync_to_thread=False
    )
    def unavailable() -> None:
        raise Unavailable(reason=reason)

    return unavailable
