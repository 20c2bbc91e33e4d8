"""The status change of one customer: the one use case manual edits, bulk and rules all call."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from services.customers.events import contact_of
from services.customers.models import Customer, Status
from shared.db import UnitOfWork, utcnow


class UnknownStatus(ValueError):
    """The status key is not in the catalogue."""


def change_status(uow: UnitOfWork, customer: Customer, to: str, reason: str = "manual") -> bool:
    """Move a customer to status `to` and emit `customer.status_changed`; False if already there.

    Does not commit: the caller's unit of work holds the change with the rest of its use case.
    """
    data = move_status(uow.session, customer, to, reason)
    if data is None:
        return False
    uow.emit("customer.status_changed", data, subject=str(customer.id))
    return True


def move_status(
    session: Session,
    customer: Customer,
    to: str,
    reason: str,
    known: Collection[str] | None = None,
) -> dict[str, Any] | None:
    """Move a customer to status `to`, the event not written yet: the data of its
    `customer.status_changed` (for a caller writing many at once), None if already there.
    `known`: the statuses the caller read as existing (else `to` is looked up)."""
    if (to not in known) if known is not None else (session.get(Status, to) is None):
        raise UnknownStatus(to)
    if customer.status == to:
        return None
    previous = customer.status
    now = utcnow()
    customer.status = to
    customer.status_changed_at = now
    customer.updated_at = now
    customer.version += 1
    return {
        "customer_id": str(customer.id),
        "from": previous,
        "to": to,
        "reason": reason,
        "customer": contact_of(customer),
    }


# What `move_status` changes, with its PostgreSQL array type.
_MOVED = {
    "status": "text",
    "status_changed_at": "timestamptz",
    "updated_at": "timestamptz",
    "version": "integer",
}
_WRITE_MOVES = text(
    "UPDATE customers AS c SET "
    + ", ".join(f"{name} = m.{name}" for name in _MOVED)
    + " FROM unnest(CAST(:id AS uuid[]), "
    + ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _MOVED.items())
    + ") AS m(id, "
    + ", ".join(_MOVED)
    + ") WHERE c.id = m.id"
)


def write_statuses(session: Session, customers: Sequence[Customer]) -> None:
    """Customers `move_status` moved, written by one statement on PostgreSQL (the session's
    flush would write one UPDATE each), then held by the session as written. Elsewhere, and
    for any other change of theirs, the flush writes them."""
    if not customers or session.get_bind().dialect.name != "postgresql":
        return
    latest = {customer.id: customer for customer in customers}  # moved twice: its last state
    rows = sorted(latest.values(), key=lambda customer: customer.id)
    values: dict[str, list[Any]] = {"id": [customer.id for customer in rows]}
    for name in _MOVED:
        values[name] = [getattr(customer, name) for customer in rows]
    with session.no_autoflush:  # the flush would write them one by one first
        session.execute(_WRITE_MOVES, values)
    for customer in rows:
        for name in _MOVED:
            set_committed_value(customer, name, getattr(customer, name))
