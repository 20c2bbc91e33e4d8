"""Reads without the ORM: a hot statement run by the driver, children as JSON in one query."""

from __future__ import annotations

from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import JSON, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class json_rows(FunctionElement[Any]):  # noqa: N801  (an SQL function, named as SQL's are)
    """Aggregates `json_rows(a, b, …)` to a JSON array of `[a, b, …]`, one per row; `[]` if none.

    For loading a parent with its few children in the parent's own query, as a correlated scalar
    subquery: `json_agg(json_build_array(…))` on PostgreSQL, `json_group_array(json_array(…))`
    on SQLite. The order of the rows is not guaranteed: sort them after loading. Values come back
    as JSON has them (SQLite gives booleans as 0 and 1, and UUIDs as 32 hex digits).
    """

    type = JSON()
    inherit_cache = True


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"coalesce(json_agg(json_build_array({compiler.process(element.clauses, **kw)})), '[]')"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


class DriverQuery:
    """A read statement the database driver runs itself: no Session, no SQLAlchemy Result.

    For the hottest reads (one customer by id): the statement is compiled once per dialect and
    sent by psycopg on a pooled connection switched to autocommit for the call (no BEGIN and
    ROLLBACK round trips), and rows come back as psycopg's named tuples. psycopg's own types are
    the ones the models declare on PostgreSQL (UUID, aware datetimes, Decimal, parsed JSON). Any
    other driver (SQLite in embedded mode) runs the statement through SQLAlchemy, whose result
    processors it needs. Parameters must be given as the driver takes them.
    """

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        self._sql: dict[str, str] = {}

    def rows(self, engine: Engine, params: dict[str, Any]) -> list[Any]:
        """The rows of the statement with these parameters."""
        if engine.dialect.driver != "psycopg":
            with engine.connect() as connection:
                return list(connection.execute(self.statement, params))
        sql = self._sql.get(engine.dialect.name)
        if sql is None:
            sql = self._sql[engine.dialect.name] = str(
                self.statement.compile(dialect=engine.dialect)
            )
        pooled = engine.raw_connection()
        driver: Any = pooled.driver_connection
        try:
            driver.autocommit = True
            with driver.cursor(row_factory=namedtuple_row) as cursor:
                rows = cursor.execute(sql, params).fetchall()
            driver.autocommit = False
            return rows
        except engine.dialect.loaded_dbapi.Error as error:
            # As SQLAlchemy would: a lost connection renews the pool, and the error is its own.
            lost = engine.dialect.is_disconnect(error, driver, None)
            if lost:  # this connection, and every older one at its next checkout
                engine.pool._invalidate(pooled, error)
            raise DBAPIError.instance(
                sql, params, error, engine.dialect.loaded_dbapi.Error, connection_invalidated=lost
            ) from error
        finally:
            pooled.close()
