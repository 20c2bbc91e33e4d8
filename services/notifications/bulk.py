"""Rows written in one statement on PostgreSQL: a batch's rows as one JSON parameter, read back
as typed rows by `json_to_recordset`, so that a batch is one statement and one parameter (one
`json.dumps` of the batch, in C) rather than a statement a row as `executemany` makes it (its
parameters adapted one by one: 40 us of the worker's CPU a delivery row, 25 this way; arrays
a column through `unnest` cost more than either); other databases keep `executemany`."""

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


def recordset(
    columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, dict[str, str]]:
    """`json_to_recordset(...) AS v(columns)` of the rows' `columns`, and its parameter
    (`rows`): a UUID or timestamp goes as its text, a JSON column's value as JSON."""
    types = ", ".join(f"{name} {PG_TYPES[name]}" for name in columns)
    payload = json.dumps([{name: row[name] for name in columns} for row in rows], default=str)
    return f"json_to_recordset(CAST(:rows AS json)) AS v({types})", {"rows": payload}


def insert_rows(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    on_conflict: str,
) -> None:
    """INSERT the rows (their `columns`) in one statement, `on_conflict` its ON CONFLICT
    clause (e.g. `(message_id) DO NOTHING`)."""
    source, parameters = recordset(columns, rows)
    names = ", ".join(columns)
    statement = f"INSERT INTO {table} ({names}) SELECT {names} FROM {source}"
    session.execute(text(f"{statement} ON CONFLICT {on_conflict}"), parameters)
