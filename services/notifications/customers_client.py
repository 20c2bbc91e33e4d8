"""The customers service over HTTP: a customer's contact fields, for one the projection does not
know yet (read your writes: an email is not given up on because an event is in flight)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from shared.service_client import ServiceClient
from shared.settings import Settings

CONTACT_FIELDS = (
    "email",
    "language",
    "first_name",
    "last_name",
    "company_name",
    "email_consent",
    "newsletter_subscribed",
)


class RemoteCustomers:
    """`sender.CustomerLookup` through `GET /customers/{id}` (`customers:read`, its own token)."""

    def __init__(self, settings: Settings) -> None:
        self.client = ServiceClient(settings, "customers", ["customers:read"])

    def contact(self, customer_id: uuid.UUID) -> Mapping[str, Any] | None:
        """The customer's contact fields, or None when customers does not know it."""
        body = self.client.get(f"/customers/{customer_id}")
        if body is None:
            return None
        return {name: body.get(name) for name in CONTACT_FIELDS}
