"""A run of events on PostgreSQL in one statement: entries, summaries, revenue, parked events.

What `entries.record_entries` does in four statements on any database (insert the entries, count
the new ones with `summary.add_to_summaries`, keep aside those of unknown customers with
`parking.park_unknown`), PostgreSQL does in one round trip: the rows travel as one array per
column (a short statement, parsed and planned once, whatever the run's length; the JSON
columns as one JSON array each, sent as it is, not escaped element by element), and
data-modifying CTEs chain the steps on the entries the INSERT really added (`RETURNING`), so a
redelivered or re-sent event, whose entry exists, counts nowhere. The consumer's batch is one
transaction; the summaries are upserted in customer order, so two runs never deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.customers.timeline.summary import INVOICE, PURCHASE, SUPPORT_REQUEST

_NEWEST = "ORDER BY occurred_at DESC, id DESC"
RECORD_RUN = text(
    f"""
WITH rows AS (
    SELECT * FROM unnest(
        CAST(:id AS uuid[]), CAST(:customer_id AS uuid[]), CAST(:type AS text[]),
        CAST(:occurred_at AS timestamptz[]), CAST(:event_source AS text[]),
        CAST(:event_id AS text[]), CAST(:actor AS text[]),
        ARRAY(SELECT d FROM json_array_elements(CAST(:details AS json)) WITH ORDINALITY
            AS j(d, n) ORDER BY n),
        CAST(:amount AS numeric[]), CAST(:currency AS text[]),
        ARRAY(SELECT b::text FROM json_array_elements(CAST(:body AS json)) WITH ORDINALITY
            AS j(b, n) ORDER BY n)
    ) AS r(id, customer_id, type, occurred_at, event_source, event_id, actor, details, amount,
           currency, body)
), new AS (
    INSERT INTO timeline_entries (id, customer_id, type, occurred_at, event_source, event_id,
        actor, details, amount, currency, version, created_at, updated_at)
    SELECT id, customer_id, type, occurred_at, event_source, event_id, actor, details, amount,
        currency, 1, now(), now()
    FROM rows
    ON CONFLICT (event_source, event_id) DO NOTHING
    RETURNING id, customer_id, type, occurred_at, amount, currency, event_source, event_id
), counted AS (
    SELECT customer_id,
        count(*) FILTER (WHERE type = '{PURCHASE}') AS purchases_count,
        count(*) FILTER (WHERE type = '{INVOICE}') AS invoices_count,
        count(*) FILTER (WHERE type = '{SUPPORT_REQUEST}') AS support_requests_count,
        (array_agg(occurred_at {_NEWEST}))[1] AS last_action_at,
        (array_agg(id {_NEWEST}))[1] AS last_action_id,
        (array_agg(type {_NEWEST}))[1] AS last_action_type
    FROM new GROUP BY customer_id
), summaries AS (
    INSERT INTO customer_summaries AS s (customer_id, purchases_count, invoices_count,
        support_requests_count, last_action_at, last_action_id, last_action_type)
    SELECT * FROM counted ORDER BY customer_id
    ON CONFLICT (customer_id) DO UPDATE SET
        purchases_count = s.purchases_count + excluded.purchases_count,
        invoices_count = s.invoices_count + excluded.invoices_count,
        support_requests_count = s.support_requests_count + excluded.support_requests_count,
        last_action_at = CASE WHEN s.last_action_at IS NULL OR (excluded.last_action_at,
            excluded.last_action_id) > (s.last_action_at, s.last_action_id)
            THEN excluded.last_action_at ELSE s.last_action_at END,
        last_action_id = CASE WHEN s.last_action_at IS NULL OR (excluded.last_action_at,
            excluded.last_action_id) > (s.last_action_at, s.last_action_id)
            THEN excluded.last_action_id ELSE s.last_action_id END,
        last_action_type = CASE WHEN s.last_action_at IS NULL OR (excluded.last_action_at,
            excluded.last_action_id) > (s.last_action_at, s.last_action_id)
            THEN excluded.last_action_type ELSE s.last_action_type END
), revenue AS (
    INSERT INTO customer_revenue AS v (customer_id, currency, amount)
    SELECT customer_id, currency, sum(amount) FROM new
    WHERE type = '{PURCHASE}' AND amount IS NOT NULL
    GROUP BY customer_id, currency ORDER BY customer_id, currency
    ON CONFLICT (customer_id, currency) DO UPDATE SET amount = v.amount + excluded.amount
), parked AS (
    INSERT INTO timeline_parked_events (id, customer_id, event_source, event_id, type, body,
        parked_at)
    SELECT gen_random_uuid(), n.customer_id, n.event_source, n.event_id, n.type, r.body, now()
    FROM new n JOIN rows r ON r.event_source = n.event_source AND r.event_id = n.event_id
    WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = n.customer_id)
    ON CONFLICT (event_source, event_id) DO NOTHING
)
SELECT count(*) FROM new
"""
)
_COLUMNS = (
    "id", "customer_id", "type", "occurred_at", "event_source", "event_id", "actor", "amount",
    "currency",
)  # fmt: skip


def record_run(
    session: Session, rows: Sequence[Mapping[str, Any]], bodies: Sequence[str], details: list[str]
) -> int:
    """Insert the entries `rows` (as `entries.entry_row` makes them, with each event's JSON in
    `bodies` and its details as JSON text in `details`), count the new ones in the summaries,
    park those of unknown customers; how many entries were new."""
    params: dict[str, Any] = {name: [row[name] for row in rows] for name in _COLUMNS}
    # A text array escapes every quote of every element (a regular expression's match each);
    # a JSON array of the JSON texts goes as one string, unescaped.
    params.update(details=_json_array(details), body=_json_array(bodies))
    return int(session.execute(RECORD_RUN, params).scalar_one())


def _json_array(texts: Sequence[str]) -> str:
    """JSON texts as one JSON array's text."""
    return "[" + ",".join(texts) + "]"
