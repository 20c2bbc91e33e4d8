"""The delivery log's state changes in bulk: a batch of deliveries claimed, closed or marked
sent in one statement per kind of change rather than one ORM row per email (the sender's
database cost per email was as high as its SMTP exchange)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, any_, bindparam, cast, literal, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement
from sqlalchemy.types import Uuid

from services.notifications import bulk
from services.notifications.models import CustomerContact, Delivery
from shared.db import table_of

DELIVERY = table_of(Delivery)
CONTACT = table_of(CustomerContact)
CLAIMED = "sending"
_CONTACT_COLUMNS = ("email", "language", "first_name", "last_name", "company_name",
                    "email_consent", "deleted")  # fmt: skip


def _among(session: Session, ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    """`id` is one of `ids`: one array parameter on PostgreSQL (the same statement whatever
    their number, so the driver and server reuse it), an IN list elsewhere."""
    if bulk.on_postgresql(session):
        uuids = ARRAY(Uuid())
        return DELIVERY.c.id == any_(cast(literal(list(ids), uuids), uuids))
    return DELIVERY.c.id.in_(ids)


def claim_due(session: Session, size: int, now: datetime) -> Sequence[Row[Any]]:
    """The next `size` due deliveries, locked (others' locks skipped), with what the sender
    needs to decide, render and address them, their customer's contact row joined (its
    columns None when the projection has none: `known` tells)."""
    columns = ("id", "customer_id", "to_admins", "needs_consent", "variables", "key",
               "message_id")  # fmt: skip
    statement: Select[Any] = (
        select(
            *(DELIVERY.c[name] for name in columns),
            CONTACT.c.customer_id.is_not(None).label("known"),
            *(CONTACT.c[name] for name in _CONTACT_COLUMNS),
        )
        .select_from(DELIVERY.outerjoin(CONTACT, CONTACT.c.customer_id == DELIVERY.c.customer_id))
        .where(DELIVERY.c.status == "pending", DELIVERY.c.next_attempt_at <= now)
        .order_by(DELIVERY.c.next_attempt_at)
        .limit(size)
        .with_for_update(of=DELIVERY, skip_locked=True)
    )
    return session.execute(statement).all()


def apply(session: Session, changes: Sequence[dict[str, Any]]) -> None:
    """Write each change (`id` and the columns it sets) with one statement per set of columns;
    a change to `sending` also counts an attempt."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for change in changes:
        groups[tuple(sorted(change))].append(change)
    for names, group in groups.items():
        if bulk.on_postgresql(session):
            _apply_in_one(session, names, group)
            continue
        values: dict[str, Any] = {name: bindparam(f"v_{name}") for name in names if name != "id"}
        if any(change.get("status") == CLAIMED for change in group):
            values["attempts"] = DELIVERY.c.attempts + 1
        session.execute(
            update(DELIVERY).where(DELIVERY.c.id == bindparam("v_id")).values(values),
            [{f"v_{name}": value for name, value in change.items()} for change in group],
        )


def _apply_in_one(session: Session, names: Sequence[str], group: Sequence[dict[str, Any]]) -> None:
    """One UPDATE of the deliveries of `group` from its rows as one parameter (PostgreSQL)."""
    source, parameters = bulk.recordset(names, group)
    assignments = [f"{name} = v.{name}" for name in names if name != "id"]
    if "status" in names:
        assignments.append(f"attempts = d.attempts + (v.status = '{CLAIMED}')::int")
    statement = f"UPDATE deliveries AS d SET {', '.join(assignments)} FROM {source}"
    session.execute(text(f"{statement} WHERE d.id = v.id"), parameters)


def mark_sent(
    session: Session, ids: Sequence[uuid.UUID], now: datetime
) -> list[tuple[dict[str, Any], str | None]]:
    """Record the deliveries sent; the `notification.sent` event of each (data, subject)."""
    if not ids:
        return []
    rows = session.execute(
        update(DELIVERY)
        .where(_among(session, ids))
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
            .where(_among(session, ids), DELIVERY.c.status == CLAIMED)
            .values(status="pending", attempts=DELIVERY.c.attempts - 1)
        )
