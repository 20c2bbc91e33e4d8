"""The profile of a customer who signed up: created from registration's `registration.submitted`,
with the id registration gave the account, so that the customer is one id in every service."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from services.customers.events import contact_of
from services.customers.models import INITIAL_STATUS, Customer
from services.customers.profiles import validation
from services.customers.profiles.usecases import refresh_search_fields
from shared.db import UnitOfWork, utcnow

log = logging.getLogger(__name__)


def create_signed_up_customer(uow: UnitOfWork, data: Mapping[str, Any]) -> bool:
    """Create the profile of a sign-up in the consumer's unit of work (`customer.created`);
    whether it did. Already there (a redelivery): nothing. Every channel is off (no consent
    yet). An email another profile already has is left off this one, flagged `is_conflict`
    for staff to merge, rather than refused: the account exists either way.
    """
    customer_id = data["customer_id"]
    if uow.session.get(Customer, customer_id) is not None:
        return False
    email_key = validation.email_key(data["email"])
    taken = uow.session.scalar(select(Customer.id).where(Customer.email_key == email_key))
    if taken is not None:
        log.warning(
            "sign-up whose email another customer has; flagged as a conflict",
            extra={"customer_id": str(customer_id), "other": str(taken)},
        )
    now = utcnow()
    customer = Customer(
        id=customer_id,
        kind=data["kind"],
        first_name=data.get("first_name"),
        last_name=data.get("last_name"),
        company_name=data.get("company_name"),
        email=None if taken else data["email"],
        email_key=None if taken else email_key,
        language=data.get("language"),
        status=INITIAL_STATUS,
        source_channel="self-service",
        email_consent=False,
        newsletter_subscribed=False,
        is_supplier=False,
        is_conflict=taken is not None,
        login_enabled=True,
        email_confirmed=False,
        shipping_addresses=[],
        phones=[],
        newsletter_lists=[],
        version=1,
        created_at=now,
        updated_at=now,
    )
    refresh_search_fields(customer)
    uow.session.add(customer)
    uow.session.flush()
    uow.emit(
        "customer.created",
        {
            "customer_id": str(customer.id),
            "kind": customer.kind,
            "status": customer.status,
            "customer": contact_of(customer),
        },
        subject=str(customer.id),
    )
    return True
