"""A Core SELECT compiled once for running on the driver directly (`loop_reader`, `pg_reader`).

SQLAlchemy compiles the statement once (per statement object: the hot statements are
built once and kept) into its SQL text, the order of its positional parameters, their
bind processors and the result processors of its columns. Each call then only binds
the values (`bind`) and runs the SQL on the DB-API or driver connection: the values
are what SQLAlchemy's own execution would send (the same processors run), without
its per-call cache key, execution context, cursor result and `Row` objects, which
cost several times the query itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Select

__all__ = ["Compiled", "CompiledStatements", "Processor", "bind", "compile_for_driver", "processed"]

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Compiled:
    sql: str
    #: (name, bind processor or None, required) per positional parameter, in order
    parameters: tuple[tuple[str, Processor | None, bool], ...]
    #: values of the parameters the statement carries itself (an OFFSET of 0, a literal)
    defaults: dict[str, Any]
    #: one per column; None when every column is passed through as the driver returns it
    results: tuple[Processor | None, ...] | None


def compile_for_driver(statement: Select[Any], dialect: Dialect) -> Compiled:
    """`statement` compiled for `dialect`'s positional paramstyle (`?` or `$n`)."""
    compiled = statement.compile(dialect=dialect)
    if compiled.positiontup is None or compiled.post_compile_params or compiled.literal_execute_params:
        raise TypeError("only a statement with plain positional parameters runs on the driver")
    # `dialect_impl`: the processors SQLAlchemy itself would run on this dialect (a
    # TypeDecorator's own `bind_processor` would wrap the generic impl, not the dialect's).
    parameters = tuple(
        (
            name,
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect),
            compiled.binds[name].required,
        )
        for name in compiled.positiontup
    )
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None)
        for column in statement.selected_columns
    )
    return Compiled(
        sql=compiled.string,
        parameters=parameters,
        defaults=dict(compiled.construct_params(_check=False)),
        results=results if any(p is not None for p in results) else None,
    )


class CompiledStatements(dict[Select[Any], Compiled]):
    """Each statement compiled for `dialect` on first use, then kept (keyed by the
    statement object: a hot statement is built once, so the keys stay few)."""

    def __init__(self, dialect: Dialect) -> None:
        super().__init__()
        self._dialect = dialect

    def __missing__(self, statement: Select[Any]) -> Compiled:
        compiled = self[statement] = compile_for_driver(statement, self._dialect)
        return compiled


def bind(compiled: Compiled, values: Mapping[str, Any] | None) -> list[Any]:
    """The positional values of one call, processed as SQLAlchemy would."""
    values = values or {}
    bound = []
    for name, process, required in compiled.parameters:
        if name in values:
            value = values[name]
        elif required:
            raise KeyError(f"no value for the parameter {name!r}")
        else:
            value = compiled.defaults[name]
        bound.append(value if process is None or value is None else process(value))
    return bound


def processed(
    rows: Iterable[Sequence[Any]], processors: tuple[Processor | None, ...]
) -> list[tuple[Any, ...]]:
    """`rows` with each column's result processor applied (None passes a value through)."""
    return [
        tuple(
            value if p is None or value is None else p(value)
            for p, value in zip(processors, row, strict=True)
        )
        for row in rows
    ]
