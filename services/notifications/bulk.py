"""Rows written in one statement on PostgreSQL: a batch's values as one array a column, read
back as rows by `unnest`, so that a batch is one statement (one parse, one plan, one round trip)
rather than one statement a row as `executemany` makes it; other databases keep `executemany`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

PG_TYPES = {
    "id": "uuid",
    "customer_id": "uuid",
    "event_id": "text",
    "event_type": "text",
    "key": "text",
    "message_id": "text",
    "to_admins": "boolean",
    "needs_consent": "boolean",
    "variables": "json",
    "recipients": "json",
    "status": "text",
    "error": "text",
    "consent": "boolean",
    "requested_language": "text",
    "locale": "text",
    "fallback": "text",
    "subject": "text",
    "attempts": "integer",
    "next_attempt_at": "timestamptz",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "sent_at": "timestamptz",
    "email": "text",
    "language": "text",
    "first_name": "text",
    "last_name": "text",
    "company_name": "text",
    "email_consent": "boolean",
    "deleted": "boolean",
    "as_of": "timestamptz",
}
"""The PostgreSQL type of each column the notifications service writes in bulk."""


def on_postgresql(session: Session) -> bool:
    """Whether the session's database is PostgreSQL (else `executemany` it is)."""
    return session.get_bind().dialect.name == "postgresql"


def unnest(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, dict[str, list[Any]]]:
    """`unnest(...) AS v(columns)` of the rows' values, and its parameters (`u_<column>`, one
    array each; a JSON column's values go as JSON text)."""
    casts = ", ".join(f"CAST(:u_{name} AS {PG_TYPES[name]}[])" for name in columns)
    parameters: dict[str, list[Any]] = {}
    for name in columns:
        values = [row[name] for row in rows]
        if PG_TYPES[name] == "json":
            values = [None if value is None else json.dumps(value) for value in values]
        parameters[f"u_{name}"] = values
    return f"unnest({casts}) AS v({', '.join(columns)})", parameters


def insert_rows(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    on_conflict: str,
) -> None:
    """INSERT the rows (their `columns`) in one statement, `on_conflict` its ON CONFLICT
    clause (e.g. `(message_id) DO NOTHING`)."""
    source, parameters = unnest(columns, rows)
    names = ", ".join(columns)
    statement = f"INSERT INTO {table} ({names}) SELECT {names} FROM {source}"
    session.execute(text(f"{statement} ON CONFLICT {on_conflict}"), parameters)
