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


_DECIDED = ", ".join(DECISION_COLUMNS)
_LOG = text(
    "WITH run AS (SELECT * FROM unnest("
    + ", ".join(
        f"CAST(:{name} AS {'text' if kind == 'json' else kind}[])"
        for name, kind in DECISION_COLUMNS.items()
    )
    + f") WITH ORDINALITY AS r({_DECIDED}, n)),"
    # The rules that may fire, noted as fired for their customer and fact unless they were.
    " fired AS (INSERT INTO rule_firings (rule_id, customer_id, fact_key, fired_at)"
    " SELECT DISTINCT rule_id, customer_id, fact_key, CAST(:now AS timestamptz) FROM run"
    " WHERE outcome IS NULL ORDER BY rule_id, customer_id, fact_key"
    " ON CONFLICT DO NOTHING RETURNING rule_id, customer_id, fact_key),"
    # The first of the run's decisions on each of those (the same fact twice fires once).
    " firsts AS (SELECT min(run.n) AS n FROM run JOIN fired"
    " USING (rule_id, customer_id, fact_key) WHERE run.outcome IS NULL"
    " GROUP BY run.rule_id, run.customer_id, run.fact_key),"
    " chains AS (INSERT INTO action_requests (rule_id, customer_id, depth, fact_key,"
    " requested_at) SELECT rule_id, customer_id, depth, fact_key, CAST(:now AS timestamptz)"
    " FROM run WHERE n IN (SELECT n FROM firsts) ORDER BY n),"
    f" logged AS (INSERT INTO decisions ({_DECIDED}) SELECT customer_id, rule_id,"
    " rule_version, trigger_event_id, trigger_type, trigger_time, fact_key, depth,"
    " CASE WHEN outcome IS NOT NULL THEN outcome"
    " WHEN n IN (SELECT n FROM firsts) THEN 'fired' ELSE 'already_fired' END,"
    " n IN (SELECT n FROM firsts), CAST(conditions AS json),"
    " CASE WHEN n IN (SELECT n FROM firsts) THEN CAST(actions AS json)"
    " ELSE CAST('[]' AS json) END, evaluated_at FROM run ORDER BY n)"
    " SELECT n FROM firsts"
)


def log_decisions(session: Session, rows: Sequence[Mapping[str, Any]], now: Any) -> set[int]:
    """A run's decisions on PostgreSQL, by one statement: those whose `outcome` is None fire
    unless their rule already fired for their customer and fact (the first of them in the run,
    then: `fired`, their chain logged), the others are logged as they are; the indexes (in
    `rows`) of those that fired."""
    values: dict[str, Any] = {"now": now}
    for name, kind in DECISION_COLUMNS.items():
        column = [row[name] for row in rows]
        values[name] = [json.dumps(v) for v in column] if kind == "json" else column
    return {n - 1 for n in session.scalars(_LOG, values)}
