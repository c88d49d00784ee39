"""RFC 9457 problem details: the single place errors become HTTP responses.

Domain error families map to 404/409/403/412/422/401/429/503; Litestar's own
validation errors become 422 with the field at fault; malformed JSON 400; a body
over the limit 413. Anything else is logged with its traceback and answered as a
bare 500 that reveals nothing.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cloudtaskhub.errors import (
    Conflict,
    DomainError,
    Forbidden,
    NotAuthenticated,
    NotFound,
    PreconditionFailed,
    RuleViolated,
    TooManyRequests,
    Unavailable,
)

__all__ = ["PROBLEM_JSON", "exception_handlers", "problem_response", "status_for"]

log = logging.getLogger("cloudtaskhub.http")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://cloudtaskhub.dev/problems/"

_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
    (PreconditionFailed, 412),
    (RuleViolated, 422),
    (NotAuthenticated, 401),
    (TooManyRequests, 429),
    (Unavailable, 503),
)

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def status_for(error: DomainError) -> int:
    for family, status in _STATUS:
        if isinstance(error, family):
            return status
    return 500


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    *,
    detail: str,
    problem: str | None = None,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": TYPE_BASE + (problem or _TITLES.get(status, "error").lower().replace(" ", "-")),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain(request: Request[Any, Any, Any], error: DomainError) -> Response[dict[str, Any]]:
    status = status_for(error)
    headers: dict[str, str] = {}
    if isinstance(error, NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, Unavailable):
        headers["Retry-After"] = "5"
    errors = error.errors if isinstance(error, RuleViolated) else None
    return problem_response(
        request,
        status,
        detail=error.detail,
        problem=error.problem,
        title=error.title,
        errors=errors,
        headers=headers or None,
        extensions={name: error.context[name] for name in error.extensions} or None,
    )


_MISSING = re.compile(r"missing required field `([^`]+)`")
_AT = re.compile(r" - at `\$\.?([^`]*)`")


def _field_of(item: dict[str, Any]) -> str:
    """The field at fault, as a client wrote it (`title`, `limits.projects`, `limit`)."""
    message = str(item.get("message", ""))
    location = _AT.search(message)
    path = re.sub(r"\[\d+\]", "", location.group(1)) if location else ""
    missing = _MISSING.search(message)
    if missing:
        return f"{path}.{missing.group(1)}" if path else missing.group(1)
    if path:
        return path
    key = str(item.get("key") or "")
    return "body" if key in {"", "data"} else key


def _message_of(item: dict[str, Any]) -> str:
    return _AT.sub("", str(item.get("message", "invalid value")))


def _validation(request: Request[Any, Any, Any], error: ValidationException) -> Response[dict[str, Any]]:
    extra = error.extra if isinstance(error.extra, list) else []
    errors = [
        {"field": _field_of(item), "message": _message_of(item)} for item in extra if isinstance(item, dict)
    ]
    detail = str(error.detail)
    if not errors and "JSON" in detail:
        return problem_response(request, 400, detail="malformed JSON body", problem="malformed-json")
    if not errors:
        errors = [{"field": "body", "message": detail}]
    return problem_response(
        request,
        422,
        detail="; ".join(f"{e['field']}: {e['message']}" for e in errors),
        problem="validation-error",
        errors=errors,
    )


def _http(request: Request[Any, Any, Any], error: HTTPException) -> Response[dict[str, Any]]:
    status = error.status_code
    detail = str(error.detail) if error.detail else _TITLES.get(status, "Error")
    if status >= 500:
        log.error("HTTP %s on %s: %s", status, request.url.path, detail)
        detail = _TITLES.get(status, "Error")
    headers = dict(error.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if status == 400 and ("JSON" in detail or "decode" in detail.lower()):
        return problem_response(request, 400, detail="malformed JSON body", problem="malformed-json")
    return problem_response(request, status, detail=detail, headers=headers or None)


def _database(request: Request[Any, Any, Any], error: DBAPIError) -> Response[dict[str, Any]]:
    if isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated:
        log.warning("database unavailable on %s: %s", request.url.path, error.orig)
        return problem_response(
            request,
            503,
            detail="the database is unavailable; retry shortly",
            problem="unavailable",
            headers={"Retry-After": "5"},
        )
    return _internal(request, error)


def _internal(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_response(
        request, HTTP_500_INTERNAL_SERVER_ERROR, detail="an unexpected error occurred; it was logged"
    )


def _connection(request: Request[Any, Any, Any], error: Exception) -> Response[dict[str, Any]]:
    if isinstance(error, ConnectionError | TimeoutError | OSError):
        log.warning("dependency unavailable on %s: %s", request.url.path, error)
        return problem_response(
            request,
            503,
            detail="a dependency is unavailable; retry shortly",
            problem="unavailable",
            headers={"Retry-After": "5"},
        )
    return _internal(request, error)


exception_handlers: dict[Any, Any] = {
    DomainError: _domain,
    ValidationException: _validation,
    HTTPException: _http,
    DBAPIError: _database,
    OSError: _connection,
    Exception: _internal,
}
