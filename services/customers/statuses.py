"""The status change of one customer: the one use case manual edits, bulk and rules all call."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

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
    session: Session, customer: Customer, to: str, reason: str
) -> dict[str, Any] | None:
    """Move a customer to status `to`, the event not written yet: the data of its
    `customer.status_changed` (for a caller writing many at once), None if already there."""
    if session.get(Status, to) is None:
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
