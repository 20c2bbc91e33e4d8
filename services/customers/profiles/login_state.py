"""The profile's `login {enabled, email_confirmed}`: registration's account state, projected from
its `account.updated` events.

The state is registration's, not the profile's: it is read-only on the profile, so projecting it
neither bumps the customer's version (its ETag, which guards the client's own writes) nor
publishes `customer.updated`. An event older than the state the profile holds (by the events'
`time`; registration writes an account's events in the order of its changes) changes nothing;
an event for a customer customers does not have (deleted meanwhile) neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from services.customers.models import Customer


def project_login_state(session: Session, state: Mapping[str, Any], time: datetime) -> bool:
    """Apply an `account.updated`'s data (as its schema loaded it) of this `time` unless the
    profile holds a newer state; whether it did."""
    result = session.execute(
        update(Customer)
        .where(
            Customer.id == state["customer_id"],
            or_(Customer.login_state_at.is_(None), Customer.login_state_at < time),
        )
        .values(
            login_enabled=state["login_enabled"],
            email_confirmed=state["email_confirmed"],
            login_state_at=time,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
