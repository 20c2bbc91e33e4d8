"""Rows written in bulk through PostgreSQL's COPY, inside the session's transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]
) -> int:
    """COPY `rows` (their `columns`; a dict or list value goes as JSON text) into `table`, in
    the session's transaction, in their order; how many. PostgreSQL only: no statement per
    row, no parameter per value."""
    driver_connection: Any = session.connection().connection.driver_connection
    written = 0
    with (
        driver_connection.cursor() as cursor,
        cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row([_copyable(row[column]) for column in columns])
            written += 1
    return written


def _copyable(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
