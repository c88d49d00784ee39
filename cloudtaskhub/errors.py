"""Domain error families. Services raise these; one HTTP mapper turns them into
problem details (see `cloudtaskhub.http.problems`). Services never raise HTTP errors.

A concrete error names the broken rule, has a fixed message template, and carries
its context as attributes, e.g.::

    class ProjectLimitReached(QuotaExceeded):
        template = "plan {plan} allows {limit} projects"
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "Conflict",
    "DomainError",
    "FieldError",
    "Forbidden",
    "NotAuthenticated",
    "NotFound",
    "PreconditionFailed",
    "QuotaExceeded",
    "RuleViolated",
    "TooManyRequests",
    "Unavailable",
]


class DomainError(Exception):
    """Base of every error a use case may raise on purpose."""

    template: ClassVar[str] = "{detail}"
    #: Last segment of the problem `type` URI.
    problem: ClassVar[str] = "error"
    title: ClassVar[str] = "Error"
    #: Context fields a client may need as data, not only as prose: they become RFC 9457
    #: extension members of the problem body (e.g. a quota's `limit`).
    extensions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **context: Any) -> None:
        self.context = context
        try:
            message = self.template.format(**context)
        except KeyError as missing:  # a template whose placeholder was not given is a bug
            raise TypeError(f"{type(self).__name__} needs {missing} for its message") from None
        super().__init__(message)

    @property
    def detail(self) -> str:
        return str(self)


class NotFound(DomainError):
    problem = "not-found"
    title = "Not found"
    template = "{what} not found"


class Conflict(DomainError):
    problem = "conflict"
    title = "Conflict"


class Forbidden(DomainError):
    problem = "forbidden"
    title = "Forbidden"


class QuotaExceeded(Forbidden):
    problem = "quota-exceeded"
    title = "Quota exceeded"


class PreconditionFailed(DomainError):
    problem = "precondition-failed"
    title = "Precondition failed"
    template = "{what} was changed by someone else (version {current}); reload and retry"


class NotAuthenticated(DomainError):
    problem = "unauthorized"
    title = "Unauthorized"
    template = "{reason}"


class TooManyRequests(DomainError):
    problem = "too-many-requests"
    title = "Too many requests"
    template = "too many attempts; retry in {retry_after} seconds"

    @property
    def retry_after(self) -> int:
        return int(self.context["retry_after"])


class Unavailable(DomainError):
    problem = "unavailable"
    title = "Service unavailable"
    template = "{reason}"


class FieldError(Exception):
    """Input that parses but breaks a rule about one field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class RuleViolated(DomainError):
    """A request that is well-formed but breaks a business rule about its fields."""

    problem = "validation-error"
    title = "Validation failed"
    template = "{field}: {message}"

    @property
    def errors(self) -> list[dict[str, str]]:
        return [{"field": str(self.context["field"]), "message": str(self.context["message"])}]
