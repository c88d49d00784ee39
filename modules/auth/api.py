"""HTTP API of the auth module: /api/v1/auth."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import Provide
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from cloudtaskhub.runtime import Runtime
from cloudtaskhub.security import Principal
from modules.auth.service import AuthService, TokenPair, provide_auth_service

# No NUL characters anywhere: PostgreSQL text cannot hold them (the lookup would fail as a 500).
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$",
        description="Email address",
    ),
]
Password = Annotated[
    str,
    msgspec.Meta(min_length=10, max_length=256, pattern=r"^[^\x00]*$", description="At least 10 characters"),
]
DisplayName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[^\x00]*[^\s\x00][^\x00]*$")
]
OpaqueToken = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]


class Registration(msgspec.Struct, forbid_unknown_fields=False):
    email: Email
    password: Password
    display_name: DisplayName


class Credentials(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=254, pattern=r"^[^\x00]*$")]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=r"^[^\x00]*$")]


class RefreshRequest(msgspec.Struct):
    refresh_token: OpaqueToken


class User(msgspec.Struct):
    id: UUID
    email: str
    display_name: str
    created_at: datetime


class Tokens(msgspec.Struct):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> Tokens:
        return cls(pair.access_token, pair.refresh_token, "Bearer", pair.expires_in)


def provide_service(runtime: Runtime) -> AuthService:
    return provide_auth_service(runtime.module("auth"))


def _client(request: Request[Any, Any, Any]) -> str:
    """The peer's address; uvicorn replaces it with X-Forwarded-For's only when the peer is
    one of CTH_TRUSTED_PROXIES, so a client cannot pick the address its limits count on."""
    return request.client.host if request.client else "unknown"


def _user(model: Any) -> User:
    return User(id=model.id, email=model.email, display_name=model.display_name, created_at=model.created_at)


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]
    dependencies = {"service": Provide(provide_service, sync_to_thread=False)}

    @post("/register", status_code=HTTP_201_CREATED, summary="Create an account")
    async def register(
        self, data: Registration, service: AuthService, request: Request[Any, Any, Any]
    ) -> User:
        return _user(await service.register(data.email, data.password, data.display_name, _client(request)))

    @post("/login", summary="Exchange email and password for tokens", status_code=200)
    async def login(self, data: Credentials, service: AuthService, request: Request[Any, Any, Any]) -> Tokens:
        return Tokens.of(await service.login(data.email, data.password, _client(request)))

    @post("/refresh", summary="Rotate a refresh token", status_code=200)
    async def refresh(self, data: RefreshRequest, service: AuthService) -> Tokens:
        return Tokens.of(await service.refresh(data.refresh_token))

    @post("/logout", status_code=HTTP_204_NO_CONTENT, summary="Revoke a refresh token and its family")
    async def logout(self, data: RefreshRequest, service: AuthService) -> None:
        await service.logout(data.refresh_token)

    @get("/me", summary="The caller's account", security=[{"BearerToken": []}])
    async def me(self, principal: Principal, service: AuthService) -> User:
        return _user(await service.get_user(principal.user_id))

    @get("/jwks", summary="Public signing keys (JWKS)", sync_to_thread=False)
    def jwks(self, service: AuthService) -> dict[str, Any]:
        return service.jwks()
