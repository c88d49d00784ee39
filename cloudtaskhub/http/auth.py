"""The `principal` dependency: the caller behind `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import Any

from litestar import Request

from cloudtaskhub.errors import Forbidden, NotAuthenticated
from cloudtaskhub.security import Principal

__all__ = ["provide_principal", "requires_admin"]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated(reason="missing bearer token")
    principal: Principal = request.app.state.runtime.verifier.verify(token.strip())
    return principal


class AdminRequired(Forbidden):
    template = "this needs the admin role"


def requires_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise AdminRequired()
