"""Which failures of an event handler are transient, by cause, in one table.

Transient means the infrastructure, not the event: retried without limit (with
backoff), holding up only the event's own lane or partition, never dead-lettered.
Anything else (a bug, a schema that does not match, a rule the event breaks) is
retried a few times and then dead-lettered, so it cannot block a lane forever.

The rules go by the database's own error code, not by the driver's exception class:
SQLAlchemy wraps a PostgreSQL deadlock and a syntax error in the same `DBAPIError`,
and SQLite reports "database is locked" and "no such table" as the same
`OperationalError`. tests/kernel/test_transient.py raises each case for real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["RULES", "Rule", "is_transient"]

#: SQLite primary result codes (the low byte of an extended code).
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


@dataclass(frozen=True)
class Rule:
    """One cause of transient failure; `why` is what an operator reads in the docs."""

    name: str
    matches: Callable[[BaseException], bool]
    why: str


def _sqlstate(error: BaseException) -> str:
    if isinstance(error, DBAPIError) and error.orig is not None:
        return str(getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None) or "")
    return ""


def _sqlite_code(error: BaseException) -> int | None:
    if isinstance(error, DBAPIError) and error.orig is not None:
        code = getattr(error.orig, "sqlite_errorcode", None)
        return None if code is None else int(code) & 0xFF
    return None


def _sqlite_lock_message(error: BaseException) -> bool:
    # The in-process write lock of `cloudtaskhub.db.engines` gives up with SQLite's own
    # message but no SQLite code (no statement ran).
    return isinstance(error, DBAPIError) and "database is locked" in str(error.orig)


RULES: tuple[Rule, ...] = (
    Rule(
        "postgresql connection exception (SQLSTATE class 08)",
        lambda e: _sqlstate(e).startswith("08"),
        "the connection failed or was lost",
    ),
    Rule(
        "postgresql transaction rollback (SQLSTATE class 40)",
        lambda e: _sqlstate(e).startswith("40"),
        "deadlock (40P01), serialization failure (40001): the same transaction succeeds when re-run",
    ),
    Rule(
        "postgresql insufficient resources (SQLSTATE class 53)",
        lambda e: _sqlstate(e).startswith("53"),
        "too many connections (53300), out of memory or disk: the server recovers",
    ),
    Rule(
        "postgresql operator intervention (SQLSTATE 57P01-57P05, 57014)",
        lambda e: _sqlstate(e).startswith("57P0") or _sqlstate(e) == "57014",
        "server shutting down or restarting, statement cancelled or timed out",
    ),
    Rule(
        "connection dropped (any database)",
        lambda e: isinstance(e, DBAPIError) and e.connection_invalidated,
        "SQLAlchemy saw the connection die; the pool opens a new one",
    ),
    Rule(
        "pool timeout (any database)",
        lambda e: isinstance(e, PoolTimeout),
        "every pooled connection was busy for pool_timeout seconds",
    ),
    Rule(
        "sqlite busy or locked",
        lambda e: _sqlite_code(e) in (_SQLITE_BUSY, _SQLITE_LOCKED) or _sqlite_lock_message(e),
        "another connection holds the write lock longer than the busy timeout",
    ),
    Rule(
        "network (any client)",
        lambda e: isinstance(e, ConnectionError | TimeoutError),
        "a socket was refused, reset or timed out before the database (or broker) answered",
    ),
)


def is_transient(error: BaseException) -> bool:
    """True when one rule of `RULES` matches: retry without limit, never dead-letter."""
    return any(rule.matches(error) for rule in RULES)
