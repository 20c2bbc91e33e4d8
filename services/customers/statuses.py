"""The status change of one customer: the one use case manual edits, bulk and rules all call."""

from __future__ import annotations

from services.customers.events import contact_of
from services.customers.models import Customer, Status
from shared.db import UnitOfWork, utcnow


class UnknownStatus(ValueError):
    """The status key is not in the catalogue."""


def change_status(uow: UnitOfWork, customer: Customer, to: str, reason: str = "manual") -> bool:
    """Move a customer to status `to` and emit `customer.status_changed`; False if already there.

    Does not commit: the caller's unit of work holds the change with the rest of its use case.
    """
    if uow.session.get(Status, to) is None:
        raise UnknownStatus(to)
    if customer.status == to:
        return False
    previous = customer.status
    now = utcnow()
    customer.status = to
    customer.status_changed_at = now
    customer.updated_at = now
    customer.version += 1
    uow.emit(
        "customer.status_changed",
        {
            "customer_id": str(customer.id),
            "from": previous,
            "to": to,
            "reason": reason,
            "customer": contact_of(customer),
        },
        subject=str(customer.id),
    )
    return True
