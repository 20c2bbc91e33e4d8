"""The delivery log's state changes in bulk: a batch of deliveries claimed, closed or marked
sent in one statement per kind of change rather than one ORM row per email (the sender's
database cost per email was as high as its SMTP exchange)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.orm import Session

from services.notifications.models import Delivery
from shared.db import table_of

DELIVERY = table_of(Delivery)
CLAIMED = "sending"


def pending_rows(session: Session, ids: Sequence[uuid.UUID]) -> Sequence[Row[Any]]:
    """The deliveries among `ids` still pending, locked (others' locks skipped), with what the
    sender needs to decide, render and address them."""
    columns = ("id", "customer_id", "to_admins", "needs_consent", "variables", "key",
               "message_id")  # fmt: skip
    return session.execute(
        select(*(DELIVERY.c[name] for name in columns))
        .where(DELIVERY.c.id.in_(ids), DELIVERY.c.status == "pending")
        .order_by(DELIVERY.c.next_attempt_at)
        .with_for_update(skip_locked=True)
    ).all()


def apply(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Write each change (`id` and the columns it sets) with one statement per set of columns;
    a change to `sending` also counts an attempt."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        groups[tuple(sorted(change))].append(change)
    for names, group in groups.items():
        values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in names if name != "id"}
        if any(change.get("status") == CLAIMED for change in group):
            values["attempts"] = DELIVERY.c.attempts + 1
        session.execute(
            update(DELIVERY).where(DELIVERY.c.id == bindparam("v_id")).values(values),
            [{f"v_{name}": value for name, value in change.items()} for change in group],
        )


def mark_sent(
    session: Session, ids: Sequence[uuid.UUID], now: datetime
) -> list[tuple[dict[str, Any], str | None]]:
    """Record the deliveries sent; the `notification.sent` event of each (data, subject)."""
    if not ids:
        return []
    rows = session.execute(
        update(DELIVERY)
        .where(DELIVERY.c.id.in_(ids))
        .values(status="sent", error=None, updated_at=now, sent_at=now)
        .returning(
            DELIVERY.c.id,
            DELIVERY.c.customer_id,
            DELIVERY.c.to_admins,
            DELIVERY.c.key,
            DELIVERY.c.event_id,
            DELIVERY.c.message_id,
            DELIVERY.c.subject,
            DELIVERY.c.locale,
        )  # fmt: skip
    ).all()
    events = []
    for row in rows:
        customer_id = None if row.to_admins or row.customer_id is None else str(row.customer_id)
        data = {
            "delivery_id": str(row.id),
            "customer_id": customer_id,
            "key": row.key,
            "event_id": row.event_id,
            "message_id": row.message_id,
            "subject": row.subject or "",
            "locale": row.locale or "",
            "sent_at": now.isoformat(),
        }
        events.append((data, customer_id))
    return events


def release(session: Session, ids: Sequence[uuid.UUID]) -> None:
    """Claimed deliveries that were never handed over: pending again, their attempt not
    counted."""
    if ids:
        session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(ids), DELIVERY.c.status == CLAIMED)
            .values(status="pending", attempts=DELIVERY.c.attempts - 1)
        )
