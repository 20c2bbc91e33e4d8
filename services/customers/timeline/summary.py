"""The summary (C11), kept as events come: set-based per batch, from the entries it just added.

A batch adds its events' entries with `INSERT … ON CONFLICT DO NOTHING … RETURNING`: only the
entries that were new come back, and only they are counted (one upsert per table for the whole
batch). An event delivered again, or sent again by its system, has its entry already: it adds
nothing. The last action is the newest entry by (its own time, id), whatever the order of
arrival. What changes the timeline otherwise (a merge, a custom entry deleted, parked events
dead-lettered) recomputes the customers concerned from their entries (`refresh_summaries`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, delete, func, or_, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import (
    Customer,
    CustomerRevenue,
    CustomerSummary,
    PushDevice,
    TimelineEntry,
)
from services.customers.profiles.errors import CustomerNotFound
from services.customers.tagging.set_based import id_in, insert_for
from shared.db import table_of
from shared.events.envelope import CloudEvent, parse_time
from shared.events.registry import load_data

PURCHASE = "billing.purchase.completed"
INVOICE = "billing.invoice.issued"
SUPPORT_REQUEST = "support.request.created"
COUNTED = {
    PURCHASE: "purchases_count",
    INVOICE: "invoices_count",
    SUPPORT_REQUEST: "support_requests_count",
}
PUSH_TYPES = ("device.push_registered", "device.push_revoked")


@dataclass(frozen=True)
class Summary:
    purchases_count: int
    revenue: dict[str, Decimal]
    invoices_count: int
    support_requests_count: int
    last_action_at: datetime | None
    last_action_type: str | None
    push_devices_count: int


def add_to_summaries(session: Session, entries: Iterable[Mapping[str, Any]]) -> None:
    """Count new entries (rows with customer_id, id, type, occurred_at, amount, currency) in
    their customers' summaries: one upsert for the summaries, one for the revenue."""
    summaries: dict[uuid.UUID, dict[str, Any]] = {}
    revenue: dict[tuple[uuid.UUID, str], Decimal] = {}
    for entry in entries:
        customer = entry["customer_id"]
        row = summaries.setdefault(customer, _empty(customer))
        column = COUNTED.get(entry["type"])
        if column is not None:
            row[column] += 1
        if row["last_action_at"] is None or (entry["occurred_at"], entry["id"]) > (
            row["last_action_at"],
            row["last_action_id"],
        ):
            row.update(
                last_action_at=entry["occurred_at"],
                last_action_id=entry["id"],
                last_action_type=entry["type"],
            )
        if entry["type"] == PURCHASE and entry.get("amount") is not None:
            key = (customer, entry["currency"])
            revenue[key] = revenue.get(key, Decimal(0)) + Decimal(entry["amount"])
    if not summaries:
        return
    _upsert_summaries(session, [summaries[key] for key in sorted(summaries)])
    if revenue:
        table = table_of(CustomerRevenue)
        statement = insert_for(session, table)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["customer_id", "currency"],
                set_={"amount": table.c.amount + statement.excluded.amount},
            ),
            [
                {"customer_id": customer, "currency": currency, "amount": amount}
                for (customer, currency), amount in sorted(revenue.items())
            ],
        )


def _empty(customer_id: uuid.UUID) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        **{column: 0 for column in COUNTED.values()},
        "last_action_at": None,
        "last_action_id": None,
        "last_action_type": None,
    }


def _upsert_summaries(session: Session, rows: list[dict[str, Any]]) -> None:
    table = table_of(CustomerSummary)
    statement = insert_for(session, table)
    new = statement.excluded
    newer = or_(
        table.c.last_action_at.is_(None),
        tuple_(new.last_action_at, new.last_action_id)
        > tuple_(table.c.last_action_at, table.c.last_action_id),
    )
    last = {
        name: case((newer, getattr(new, name)), else_=getattr(table.c, name))
        for name in ("last_action_at", "last_action_id", "last_action_type")
    }
    counts = {
        column: getattr(table.c, column) + getattr(new, column) for column in COUNTED.values()
    }
    session.execute(
        statement.on_conflict_do_update(index_elements=["customer_id"], set_={**counts, **last}),
        rows,
    )


def delete_summaries(session: Session, customer_ids: Collection[uuid.UUID]) -> None:
    """Forget the summaries (and push devices) of deleted customers."""
    for model in (CustomerSummary, CustomerRevenue, PushDevice):
        session.execute(delete(model).where(id_in(session, model.customer_id, customer_ids)))


def refresh_summaries(session: Session, customer_ids: Collection[uuid.UUID]) -> None:
    """Recompute these customers' summaries from their timelines (after a merge, a deleted
    custom entry, dead-lettered events)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return
    for model in (CustomerSummary, CustomerRevenue):
        session.execute(delete(model).where(model.customer_id.in_(ids)))
    entries = table_of(TimelineEntry).c
    rows = {customer: _empty(customer) for customer in ids}
    for customer, type_, count in session.execute(
        select(entries.customer_id, entries.type, func.count())
        .where(entries.customer_id.in_(ids), entries.type.in_(list(COUNTED)))
        .group_by(entries.customer_id, entries.type)
    ):
        rows[customer][COUNTED[type_]] = count
    for customer in ids:
        last = session.execute(
            select(entries.occurred_at, entries.id, entries.type)
            .where(entries.customer_id == customer)
            .order_by(entries.occurred_at.desc(), entries.id.desc())
            .limit(1)
        ).one_or_none()
        if last is None:
            del rows[customer]
            continue
        rows[customer].update(
            last_action_at=last.occurred_at, last_action_id=last.id, last_action_type=last.type
        )
    if rows:
        session.execute(insert_for(session, table_of(CustomerSummary)), list(rows.values()))
    revenue = [
        {"customer_id": customer, "currency": currency, "amount": total}
        for customer, currency, total in session.execute(
            select(entries.customer_id, entries.currency, func.sum(entries.amount))
            .where(entries.customer_id.in_(ids), entries.type == PURCHASE)
            .group_by(entries.customer_id, entries.currency)
        )
    ]
    if revenue:
        session.execute(insert_for(session, table_of(CustomerRevenue)), revenue)


def move_push_devices(session: Session, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
    """A merge: the duplicate's devices become the survivor's."""
    table = table_of(PushDevice)
    session.execute(table.update().where(table.c.customer_id == from_id).values(customer_id=to_id))


def record_push_devices(session: Session, events: Sequence[CloudEvent]) -> None:
    """Devices registered for push or revoked, the latest event (by its own time) winning, so
    that a late registration does not bring back a revoked device."""
    latest: dict[str, dict[str, Any]] = {}
    for event in events:
        data = event.loaded if event.loaded is not None else load_data(event.type, event.data)
        row = {
            "device_id": data["device_id"],
            "customer_id": data["customer_id"],
            "registered": event.type == "device.push_registered",
            "changed_at": parse_time(event.time),
        }
        known = latest.get(row["device_id"])
        if known is None or row["changed_at"] >= known["changed_at"]:
            latest[row["device_id"]] = row
    if not latest:
        return
    table = table_of(PushDevice)
    statement = insert_for(session, table)
    new = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["device_id"],
            set_={
                "customer_id": new.customer_id,
                "registered": new.registered,
                "changed_at": new.changed_at,
            },
            where=new.changed_at >= table.c.changed_at,
        ),
        [latest[key] for key in sorted(latest)],
    )


def summary_of(reads: sessionmaker[Session], customer_id: uuid.UUID) -> Summary:
    """A customer's summary as kept (two statements: the figures, the revenue);
    CustomerNotFound."""
    devices = (
        select(func.count())
        .where(PushDevice.customer_id == customer_id, PushDevice.registered)
        .scalar_subquery()
    )
    figures = (
        select(
            Customer.id,
            *(getattr(CustomerSummary, column) for column in COUNTED.values()),
            CustomerSummary.last_action_at,
            CustomerSummary.last_action_type,
            devices.label("push_devices_count"),
        )
        .outerjoin(CustomerSummary, CustomerSummary.customer_id == Customer.id)
        .where(Customer.id == customer_id)
    )
    with reads() as session:
        kept = session.execute(figures).one_or_none()
        if kept is None:
            raise CustomerNotFound(customer_id)
        revenue = {
            currency: _exact(Decimal(amount))
            for currency, amount in session.execute(
                select(CustomerRevenue.currency, CustomerRevenue.amount)
                .where(CustomerRevenue.customer_id == customer_id)
                .order_by(CustomerRevenue.currency)
            )
        }
    return Summary(
        purchases_count=kept.purchases_count or 0,
        revenue=revenue,
        invoices_count=kept.invoices_count or 0,
        support_requests_count=kept.support_requests_count or 0,
        last_action_at=kept.last_action_at,
        last_action_type=kept.last_action_type,
        push_devices_count=kept.push_devices_count or 0,
    )


def _exact(amount: Decimal) -> Decimal:
    """Without trailing zeros past the cents (`12.5000` is `12.50`)."""
    cents = amount.quantize(Decimal("0.01"))
    return cents if cents == amount else amount
