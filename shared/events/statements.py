"""Statements run on a session's own psycopg connection, in its transaction: the consumer's hot
path, where SQLAlchemy's execution machinery costs as much CPU as the statement itself.

`execute_rows` takes a Core statement as handlers write them and, on PostgreSQL, compiles it
once for the set of columns given, then hands the rows straight to psycopg: the same SQL, the
same parameters (literal values, Python-side scalar defaults and bind processors included) and
the same transaction as `session.execute`, without an execution context and result object per
call. Other databases (SQLite in the embedded mode), and statements it cannot prepare that way,
go through `session.execute` as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable


class _Prepared(NamedTuple):
    sql: str
    constants: dict[str, Any]  # literal values and scalar defaults, the same for every row
    processors: dict[str, Callable[[Any], Any]]  # bind processors of the rows' own values


# (statement, dialect, column names) -> the statement for psycopg, or None to use the Session.
_MOST_PREPARED = 512
_PREPARED: dict[tuple[int, int, tuple[str, ...]], tuple[Executable, _Prepared | None]] = {}


def driver_connection(session: Session) -> Any:
    """The session's psycopg connection, in the session's transaction (begun if need be)."""
    return session.connection().connection.driver_connection


def execute_rows(
    session: Session, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Execute `statement` once per row (a DML statement, every row with the same keys), in
    the session's transaction: as `session.execute(statement, rows)` does, cheaper on
    PostgreSQL. Returns nothing: a statement whose rows are wanted goes through the session."""
    if not rows:
        return
    connection = session.connection()  # the session's, in its transaction: asked for once
    dialect = connection.dialect
    prepared = (
        _prepare(statement, dialect, tuple(rows[0])) if dialect.name == "postgresql" else None
    )
    if prepared is None:
        session.execute(statement, rows[0] if len(rows) == 1 else list(rows))
        return
    sql, constants, processors = prepared
    parameters = [_parameters(row, constants, processors) for row in rows]
    driver: Any = connection.connection.driver_connection
    with driver.cursor() as cursor:
        if len(parameters) == 1:
            cursor.execute(sql, parameters[0])
        else:
            cursor.executemany(sql, parameters)


def _parameters(
    row: Mapping[str, Any],
    constants: dict[str, Any],
    processors: dict[str, Callable[[Any], Any]],
) -> dict[str, Any]:
    parameters = {**constants, **row}
    for name, process in processors.items():
        parameters[name] = process(parameters[name])
    return parameters


def _prepare(statement: Executable, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared | None:
    key = (id(statement), id(dialect), keys)
    cached = _PREPARED.get(key)
    if cached is not None and cached[0] is statement:
        return cached[1]
    prepared = _compile(statement, dialect, keys)
    if len(_PREPARED) >= _MOST_PREPARED:
        _PREPARED.clear()  # statements built per call: forget them rather than grow forever
    _PREPARED[key] = (statement, prepared)  # the statement kept, so that its id stays its own
    return prepared


def _compile(statement: Any, dialect: Dialect, keys: tuple[str, ...]) -> _Prepared | None:
    """The statement for psycopg, or None when only SQLAlchemy's execution does it justice:
    expanding (IN) or post-compiled parameters, RETURNING, defaults that are not plain values,
    or columns a row does not give that the statement needs."""
    if statement._propagate_attrs.get("compile_state_plugin") == "orm":
        return None  # an ORM statement: the Session's own bulk semantics
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(keys))
    if (
        compiled.positional
        or compiled.escaped_bind_names
        or compiled.literal_execute_params
        or compiled.post_compile_params
        or getattr(compiled, "returning", None)
        or compiled.update_prefetch
        or compiled.postfetch
    ):
        return None
    constants: dict[str, Any] = {}
    for column in compiled.insert_prefetch:
        default = column.default
        if default is None or not default.is_scalar or column.key in keys:
            return None
        constants[column.key] = default.arg
    bound = compiled.construct_params(_check=False)
    for name, value in bound.items():
        if name in keys or name in constants:
            continue
        if value is None and compiled.binds[name].required:
            return None  # a parameter no row gives
        constants[name] = value
    processors = compiled._bind_processors
    for name, process in processors.items():
        if name in constants:
            constants[name] = process(constants[name])
    row_processors = {name: processors[name] for name in keys if name in processors}
    return _Prepared(str(compiled), constants, row_processors)
