"""Reading customers as the API answers them: one `CUSTOMER_VIEW` query, whatever is asked."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, bindparam
from sqlalchemy.orm import Session

from services.customers.models import Customer
from services.customers.profiles.errors import CustomerNotFound
from services.customers.profiles.representation import CUSTOMER_VIEW, CustomerView
from shared.reads import DriverQuery

# Built once: SQLAlchemy caches its compiled form, and psycopg prepares it on the server.
_BY_ID = CUSTOMER_VIEW.where(Customer.__table__.c.id == bindparam("customer_id"))
# The read of one customer, the most frequent request of the suite, run by the driver itself.
_GET_BY_ID = DriverQuery(_BY_ID)


def load_customer(session: Session, customer_id: uuid.UUID) -> CustomerView | None:
    """The view row of this customer, as this session sees it (changes flushed included)."""
    row: CustomerView | None = (
        session.connection().execute(_BY_ID, {"customer_id": customer_id}).one_or_none()
    )
    return row


def read_back(session: Session, customer_id: uuid.UUID) -> CustomerView:
    """The view row of a customer a use case has just written, before its commit."""
    session.flush()
    row = load_customer(session, customer_id)
    if row is None:
        raise CustomerNotFound(customer_id)
    return row


def get_customer(engine: Engine, customer_id: uuid.UUID) -> CustomerView:
    """The customer with this id, as the API answers it; CustomerNotFound otherwise."""
    rows = _GET_BY_ID.rows(engine, {"customer_id": customer_id})
    if not rows:
        raise CustomerNotFound(customer_id)
    row: CustomerView = rows[0]
    return row
