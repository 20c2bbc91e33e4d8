"""A run's decisions and the chains of its firings, written together: on PostgreSQL by one
statement (the rows as one array per column, in their order), elsewhere one INSERT each."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from services.automation.models import ActionRequest, Decision
from shared.db import table_of

# Each column with its PostgreSQL array type; JSON goes as text, cast back by the statement.
DECISION_COLUMNS = {
    "customer_id": "uuid",
    "rule_id": "text",
    "rule_version": "integer",
    "trigger_event_id": "text",
    "trigger_type": "text",
    "trigger_time": "timestamptz",
    "fact_key": "text",
    "depth": "integer",
    "outcome": "text",
    "fired": "boolean",
    "conditions": "json",
    "actions": "json",
    "evaluated_at": "timestamptz",
}
CHAIN_COLUMNS = {
    "rule_id": "text",
    "customer_id": "uuid",
    "depth": "integer",
    "fact_key": "text",
    "requested_at": "timestamptz",
}


def _from_arrays(table: str, columns: Mapping[str, str], prefix: str) -> str:
    """INSERT INTO table SELECT the rows of one array per column, in the arrays' order."""
    names = ", ".join(columns)
    selected = ", ".join(
        f"CAST({name} AS json)" if kind == "json" else name for name, kind in columns.items()
    )
    arrays = ", ".join(
        f"CAST(:{prefix}{name} AS {'text' if kind == 'json' else kind}[])"
        for name, kind in columns.items()
    )
    return (
        f"INSERT INTO {table} ({names}) SELECT {selected} FROM unnest({arrays})"
        f" WITH ORDINALITY AS r({names}, n) ORDER BY n"
    )


_WRITE = text(
    f"WITH chains AS ({_from_arrays('action_requests', CHAIN_COLUMNS, 'c_')}) "
    + _from_arrays("decisions", DECISION_COLUMNS, "d_")
)


def write_decisions(
    session: Session, decisions: Sequence[Mapping[str, Any]], chains: Sequence[Mapping[str, Any]]
) -> None:
    """The run's decisions and chains (their ids in the order given)."""
    if not decisions and not chains:
        return
    if session.get_bind().dialect.name != "postgresql":
        for model, rows in ((Decision, decisions), (ActionRequest, chains)):
            if rows:
                session.execute(insert(table_of(model)), list(rows))
        return
    values: dict[str, list[Any]] = {}
    for prefix, columns, rows in (
        ("d_", DECISION_COLUMNS, decisions),
        ("c_", CHAIN_COLUMNS, chains),
    ):
        for name, kind in columns.items():
            column = [row[name] for row in rows]
            values[prefix + name] = [json.dumps(v) for v in column] if kind == "json" else column
    session.execute(_WRITE, values)
