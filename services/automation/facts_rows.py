"""Customers' facts rows locked and written set-based on PostgreSQL: one statement to create
the missing rows and lock them all, one to write back those a run changed, whatever the number
of customers (the session's flush would write them one UPDATE each, and its bookkeeping per
object costs more than the statement)."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, TextClause, column, inspect, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from services.automation.models import CustomerFacts
from services.automation.rulebook import MARK, MARKS
from services.automation.rules.grammar import COUNTERS

COUNTER_COLUMNS = tuple(name for name in COUNTERS if name.endswith("_count"))
"""The counters the facts rows keep (the grammar's others are computed when read)."""
# Every column a run may change, with its PostgreSQL array type.
WRITTEN: dict[str, str] = {
    "known": "boolean",
    "deleted": "boolean",
    "status": "text",
    "status_at": "timestamptz",
    "kind": "text",
    "profile": "text",  # JSON text, cast back to json by the statement
    "since": "timestamptz",
    "first_payment_at": "timestamptz",
    "first_invoice_at": "timestamptz",
    "first_appointment_at": "timestamptz",
    "last_interaction_at": "timestamptz",
    **{name: "integer" for name in COUNTER_COLUMNS},
}

# The rows created when missing, and every one of them locked (the conflict's no-op update
# locks an existing row as FOR UPDATE would) and returned, in customer id order: two consumers
# sharing customers never deadlock.
_LOCK = text(
    "INSERT INTO customer_facts AS f (customer_id, known, deleted, profile, since, "
    + ", ".join(COUNTER_COLUMNS)
    + ") SELECT customer_id, false, false, CAST('{}' AS json), since"
    + ", 0" * len(COUNTER_COLUMNS)
    + " FROM unnest(CAST(:ids AS uuid[]), CAST(:since AS timestamptz[]))"
    " AS n(customer_id, since) ORDER BY customer_id"
    " ON CONFLICT (customer_id) DO UPDATE SET known = f.known RETURNING f.*, " + MARKS
).columns(
    *CustomerFacts.__table__.columns,  # type: ignore[attr-defined]
    column("settings_mark", String),
    column("rules_mark", String),
)


def lock_rows(
    session: Session, ids: list[uuid.UUID], since: Mapping[uuid.UUID, datetime]
) -> dict[uuid.UUID, CustomerFacts]:
    """The facts rows of `ids` (sorted), created when missing (`since` their value), locked until
    commit, as the session's objects (refreshed from the database): one statement."""
    rows = session.execute(
        select(CustomerFacts, column("settings_mark"), column("rules_mark"))
        .from_statement(_LOCK)
        .execution_options(populate_existing=True),
        {"ids": ids, "since": [since[i] for i in ids]},
    )
    locked = {}
    for row, settings_mark, rules_mark in rows:
        locked[row.customer_id] = row
        # The rules as of this statement: `RuleBook.read` needs no statement of its own.
        session.info[MARK] = (settings_mark, rules_mark)
    return locked


def write_rows(session: Session, rows: Iterable[CustomerFacts]) -> None:
    """The rows a run changed, written by one statement (the columns some row changed), then
    held by the session as written (its flush has nothing left to write for them)."""
    changed = {row: inspect(row).committed_state for row in rows if inspect(row).modified}
    names = [name for name in WRITTEN if any(name in was for was in changed.values())]
    if not names:
        return
    objects = sorted(changed, key=lambda row: row.customer_id)  # the order they were locked in
    values: dict[str, list[Any]] = {"customer_id": [row.customer_id for row in objects]}
    for name in names:
        column = [getattr(row, name) for row in objects]
        values[name] = [json.dumps(v) for v in column] if name == "profile" else column
    with session.no_autoflush:  # the flush would write them one by one first
        session.execute(_statement(tuple(names)), values)
    for row in objects:
        for name in names:
            set_committed_value(row, name, getattr(row, name))


@functools.cache
def _statement(names: tuple[str, ...]) -> TextClause:
    """The UPDATE of these columns from one array each (one per set of columns a run changes:
    a few in all)."""
    return text(
        "UPDATE customer_facts AS f SET "
        + ", ".join(
            f"{name} = CAST(w.{name} AS json)" if name == "profile" else f"{name} = w.{name}"
            for name in names
        )
        + " FROM unnest(CAST(:customer_id AS uuid[]), "
        + ", ".join(f"CAST(:{name} AS {WRITTEN[name]}[])" for name in names)
        + ") AS w(customer_id, "
        + ", ".join(names)
        + ") WHERE f.customer_id = w.customer_id"
    )
