"""Timeline entries from events: one per event, set-based over a run of events of one type."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.customers.models import ParkedEvent, TimelineEntry
from services.customers.tagging.set_based import dialect_name, id_in, insert_for
from services.customers.timeline.batch_sql import record_run
from services.customers.timeline.parking import park_unknown
from services.customers.timeline.summary import (
    PURCHASE,
    add_to_summaries,
    delete_summaries,
    move_push_devices,
    refresh_summaries,
)
from shared.db import table_of, utcnow
from shared.events.envelope import CloudEvent, parse_time
from shared.events.owners import inbox_source
from shared.events.registry import load_data

# The suite's own events and other systems' that make a timeline entry.
INTERNAL_TYPES = (
    "customer.created",
    "customer.tagged",
    "customer.untagged",
    "customer.status_changed",
    "customer.merged",
    "registration.submitted",
    "registration.approved",
    "registration.rejected",
    "account.activated",
    "device.confirmed",
    "account.impersonated",
    "notification.sent",
)
EXTERNAL_TYPES = (
    "billing.purchase.completed",
    "billing.invoice.issued",
    "billing.payment.recorded",
    "scheduling.appointment.completed",
    "support.request.created",
    "marketing.email.opened",
    "marketing.email.clicked",
)
TIMELINE_TYPES = INTERNAL_TYPES + EXTERNAL_TYPES
CUSTOM = "custom"
# What a new entry's summary and parking need of it.
NEW_ENTRY_COLUMNS = ("id", "customer_id", "type", "occurred_at", "amount", "currency",
                     "event_source", "event_id")  # fmt: skip
# Not worth keeping on an entry: the contact copy every customer event carries.
LEFT_OUT = frozenset({"customer", "customer_id"})


def entry_row(event: CloudEvent) -> dict[str, Any] | None:
    """The entry an event makes, as a row; None when it names no customer."""
    data = event.loaded if event.loaded is not None else load_data(event.type, event.data)
    customer_id = data.get("customer_id")
    if not isinstance(customer_id, uuid.UUID):
        return None
    occurred_at = parse_time(event.time) or utcnow()
    now = utcnow()
    is_purchase = event.type == PURCHASE
    return {
        "id": uuid.uuid4(),
        "customer_id": customer_id,
        "type": event.type,
        "occurred_at": occurred_at,
        "event_source": inbox_source(event.type),
        "event_id": event.id,
        "actor": data.get("actor") if event.type == "account.impersonated" else event.source,
        "details": {k: _plain(v) for k, v in data.items() if k not in LEFT_OUT},
        "amount": Decimal(data["amount"]) if is_purchase else None,
        "currency": data["currency"] if is_purchase else None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def record_entries(session: Session, events: Sequence[CloudEvent]) -> int:
    """Add the entries of these events, each once per event (its owner and id), count the new
    ones in their customers' summaries, and keep aside those of customers not known yet; how
    many entries are new."""
    made = [(row, event) for event in events if (row := entry_row(event)) is not None]
    if not made:
        return 0
    rows = [row for row, _ in made]
    if dialect_name(session) == "postgresql":  # the same, in one round trip
        return record_run(
            session,
            rows,
            [event.to_json() for _, event in made],
            [json.dumps(row["details"], ensure_ascii=False) for row in rows],
        )
    table = table_of(TimelineEntry)
    statement = (
        insert_for(session, table)
        .on_conflict_do_nothing(index_elements=["event_source", "event_id"])
        .returning(*(table.c[name] for name in NEW_ENTRY_COLUMNS))
    )
    new = [dict(row._mapping) for row in session.execute(statement, rows)]
    add_to_summaries(session, new)
    park_unknown(session, new, {(inbox_source(e.type), e.id): e for e in events})
    return len(new)


def move_timeline(session: Session, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
    """Every entry of one customer becomes another's (a merge), the summary with them."""
    table = table_of(TimelineEntry)
    session.execute(table.update().where(table.c.customer_id == from_id).values(customer_id=to_id))
    move_push_devices(session, from_id, to_id)
    delete_summaries(session, [from_id])
    refresh_summaries(session, [to_id])


def delete_timeline(session: Session, *customer_ids: uuid.UUID) -> None:
    """Forget customers' timelines, summaries and parked events (the customers are deleted)."""
    for model in (TimelineEntry, ParkedEvent):
        session.execute(delete(model).where(id_in(session, model.customer_id, customer_ids)))
    delete_summaries(session, customer_ids)


def _plain(value: Any) -> Any:
    """A loaded value as JSON holds it."""
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
