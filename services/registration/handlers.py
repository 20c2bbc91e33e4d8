"""Event handlers of the registration service and the explicit list of what it subscribes to.

customers' events keep every customer's account (`customer_accounts`): created for a customer
staff created, kept in step, removed with the customer. Handlers act on the data as the type's
schema loaded it (UUIDs, not strings).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.registration.customer_accounts import adopt, follow_update, merge, remove
from shared.db import UnitOfWork
from shared.events.consumer import Handler, batch_handler
from shared.events.envelope import CloudEvent
from shared.events.registry import load_data


def loaded(event: CloudEvent) -> dict[str, Any]:
    """The event's data as its type's schema loaded it."""
    return event.loaded if event.loaded is not None else load_data(event.type, event.data)


def on_customer_created(event: CloudEvent, uow: UnitOfWork) -> None:
    """A customer staff created gets its account (a sign-up's has one: nothing changes)."""
    data = loaded(event)
    adopt(uow, data["customer_id"], data["kind"], data["customer"])


def on_customer_updated(event: CloudEvent, uow: UnitOfWork) -> None:
    """The account follows the profile's email, names and language."""
    data = loaded(event)
    follow_update(uow.session, data["customer_id"], data["changed"], data["customer"])


@batch_handler
def on_customers_deleted(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """Deleted customers' accounts go, with their tokens and devices."""
    remove(uow.session, [loaded(event)["customer_id"] for event in events])


def on_customer_merged(event: CloudEvent, uow: UnitOfWork) -> None:
    """A merge: the duplicate's account goes; a survivor without a password takes its login."""
    data = loaded(event)
    merge(uow, data["customer_id"], data["duplicate_id"])


SUBSCRIPTIONS: dict[str, Sequence[Handler]] = {
    "customer.created": [on_customer_created],
    "customer.updated": [on_customer_updated],
    "customer.deleted": [on_customers_deleted],
    "customer.merged": [on_customer_merged],
}
