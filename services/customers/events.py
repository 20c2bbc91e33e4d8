"""What customers' events carry about a customer (the fields notifications needs)."""

from __future__ import annotations

from typing import Any

from services.customers.models import Customer


def contact_of(customer: Customer) -> dict[str, Any]:
    """The customer's contact fields, as `customer` in every customer event."""
    return {
        "email": customer.email,
        "language": customer.language,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "company_name": customer.company_name,
        "email_consent": customer.email_consent,
        "newsletter_subscribed": customer.newsletter_subscribed,
    }
