"""Events for customers not known yet: kept aside, applied when the customer comes, or
dead-lettered with the reason once the window has passed.

Such an event's entry is written as any other (and counted in its customer's summary), but the
customer does not exist: nothing shows it. A copy of the event waits in
`timeline_parked_events`. The worker's `settle_parked` job then, set-based:
- forgets the copies of customers that exist now (their entries show: the events are applied);
- for copies older than the window whose customer still does not exist, publishes the events
  to the service's dead letters (`shared.events.dead_letters`, kind `unknown_customer`, the
  reason in `x-crm-dead-reason`), then removes their entries and recomputes those summaries.
The dead letters are confirmed by the broker before the transaction that forgets the events
commits: a crash between the two dead-letters an event twice, never loses it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, exists, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import Customer, ParkedEvent, TimelineEntry
from services.customers.tagging.set_based import insert_for
from services.customers.timeline.summary import refresh_summaries
from shared.db import table_of, utcnow
from shared.events.dead_letters import DeadLetter, publish_dead_letters
from shared.events.envelope import CloudEvent
from shared.events.publisher import EventPublisher

log = logging.getLogger(__name__)

UNKNOWN_CUSTOMER = "unknown_customer"
SETTLE_BATCH = 500


def park_unknown(
    session: Session,
    entries: Sequence[Mapping[str, Any]],
    events: Mapping[tuple[str, str], CloudEvent],
) -> int:
    """Keep aside the events of new entries whose customer does not exist (yet); how many.

    `entries` are the new entries (customer_id, event_source, event_id), `events` the events by
    their (source, id)."""
    ids = {entry["customer_id"] for entry in entries}
    if not ids:
        return 0
    known = set(session.scalars(select(Customer.id).where(Customer.id.in_(list(ids)))))
    now = utcnow()
    rows = []
    for entry in entries:
        if entry["customer_id"] in known:
            continue
        event = events[(entry["event_source"], entry["event_id"])]
        rows.append(
            {
                "id": uuid.uuid4(),
                "customer_id": entry["customer_id"],
                "event_source": entry["event_source"],
                "event_id": entry["event_id"],
                "type": event.type,
                "body": event.to_json(),
                "parked_at": now,
            }
        )
    if rows:
        statement = insert_for(session, table_of(ParkedEvent)).on_conflict_do_nothing(
            index_elements=["event_source", "event_id"]
        )
        session.execute(statement, rows)
    return len(rows)


def settle_parked(
    session_factory: sessionmaker[Session],
    dead_letters: EventPublisher,
    service: str,
    window: timedelta,
) -> tuple[int, int]:
    """Forget the parked events whose customer appeared; dead-letter those past the window
    (a batch at a time); (how many applied, how many dead-lettered)."""
    parked = table_of(ParkedEvent)
    with session_factory() as session, session.begin():
        result = session.execute(delete(parked).where(_customer_exists(parked.c.customer_id)))
        applied = int(getattr(result, "rowcount", 0) or 0)
    expired_total = 0
    while True:
        expired = _dead_letter_expired(session_factory, dead_letters, service, window)
        expired_total += expired
        if expired < SETTLE_BATCH:
            break
    if applied or expired_total:
        log.info(
            "parked events settled",
            extra={"applied": applied, "dead_lettered": expired_total},
        )
    return applied, expired_total


def _customer_exists(customer_id: Any) -> Any:
    """The customer exists (EXISTS on its key: a probe per parked event, never a scan of every
    customer, as `NOT IN (SELECT id FROM customers)` would be)."""
    return exists().where(Customer.id == customer_id)


def _dead_letter_expired(
    session_factory: sessionmaker[Session],
    dead_letters: EventPublisher,
    service: str,
    window: timedelta,
) -> int:
    entries = table_of(TimelineEntry)
    with session_factory() as session, session.begin():
        expired = list(
            session.scalars(
                select(ParkedEvent)
                .where(
                    ParkedEvent.parked_at < utcnow() - window,
                    ~_customer_exists(ParkedEvent.customer_id),
                )
                .order_by(ParkedEvent.parked_at, ParkedEvent.id)
                .limit(SETTLE_BATCH)
                .with_for_update(skip_locked=True)
            )
        )
        if not expired:
            return 0
        publish_dead_letters(
            dead_letters,
            service,
            [
                DeadLetter(
                    body=event.body,
                    message_id=event.event_id,
                    kind=UNKNOWN_CUSTOMER,
                    reason=(
                        f"customer {event.customer_id} unknown {window} after the event came"
                        f" (parked at {event.parked_at.isoformat()})"
                    ),
                    routing_key=event.type,
                )
                for event in expired
            ],
        )
        keys = [(event.event_source, event.event_id) for event in expired]
        session.execute(
            delete(entries).where(tuple_(entries.c.event_source, entries.c.event_id).in_(keys))
        )
        session.execute(
            delete(ParkedEvent).where(ParkedEvent.id.in_([event.id for event in expired]))
        )
        refresh_summaries(session, {event.customer_id for event in expired})
    return len(expired)
