"""What customers' events carry about a customer (the fields notifications needs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func

CONTACT_FIELDS = (
    "email",
    "language",
    "first_name",
    "last_name",
    "company_name",
    "email_consent",
    "newsletter_subscribed",
)
"""The customer's columns every customer event carries as its `customer`."""


def contact_of(customer: Any) -> dict[str, Any]:
    """The customer's contact fields (of a `Customer` or a row), as `customer` in every event."""
    return {name: getattr(customer, name) for name in CONTACT_FIELDS}


def contact_json(columns: Any) -> ColumnElement[Any]:
    """`contact_of` in SQL, from `columns` holding `CONTACT_FIELDS` (for events built by SQL)."""
    return func.json_build_object(
        *(item for name in CONTACT_FIELDS for item in (name, getattr(columns, name)))
    )
