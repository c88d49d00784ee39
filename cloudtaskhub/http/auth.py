"""The `principal` dependency: the caller behind `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import Any

from litestar import Request

from cloudtaskhub.errors import Forbidden, NotAuthenticated
from cloudtaskhub.security import Principal

__all__ = ["optional_principal", "provide_principal", "requires_admin"]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = optional_principal(request)
    if principal is None:
        raise NotAuthenticated(reason="missing bearer token")
    return principal


def optional_principal(request: Request[Any, Any, Any]) -> Principal | None:
    """The caller on an endpoint anyone may call: None without a bearer token; a token
    that is sent must be valid (NotAuthenticated otherwise)."""
    # Straight from the ASGI scope (names are lower-case there): building Litestar's
    # `request.headers` for this one header cost more than verifying a cached token.
    header = next((value for name, value in request.scope["headers"] if name == b"authorization"), b"")
    scheme, _, token = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    principal: Principal = request.app.state.runtime.verifier.verify(token.strip())
    return principal


class AdminRequired(Forbidden):
    template = "this needs the admin role"


def requires_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise AdminRequired()
