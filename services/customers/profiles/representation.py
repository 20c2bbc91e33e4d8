"""A customer as the API answers it: one SELECT row (columns, phones, lists, tags), then its JSON.

Every endpoint that answers customers (read, list, create, edit, merge) loads them with
`CUSTOMER_VIEW`: the profile's columns and, as correlated JSON subqueries, its phones, its
newsletter lists and its tags with their names and colours from the local catalogue. One round
trip whatever the page size, no ORM objects, and `customer_json` turns the row into the answer.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, Select, select

from services.customers.models import Customer, CustomerTag, NewsletterSubscription, Phone, TagView
from shared.reads import json_rows

CustomerView = Row[Any]
"""A row of `CUSTOMER_VIEW`: the customer's columns, `phones_json`, `lists_json`, `tags_json`."""

_customers = Customer.__table__.c
_phones = Phone.__table__.c
_lists = NewsletterSubscription.__table__.c
_links = CustomerTag.__table__.c
_tags = TagView.__table__.c

# Every column the answer, the ETag and the list's keyset position need (not `search_text`).
VIEW_COLUMN_NAMES = (
    "id", "kind", "first_name", "last_name", "company_name", "email", "website", "birth_date",
    "gender", "language", "address_street", "address_postal_code", "address_city",
    "address_region", "address_country", "email_consent", "newsletter_subscribed", "billing",
    "shipping_addresses", "is_supplier", "is_conflict", "status", "source_channel",
    "source_campaign", "utm_source", "utm_medium", "utm_campaign", "source_device", "notes",
    "discount_percent", "login_enabled", "email_confirmed", "version", "sort_name",
    "custom_fields", "created_at", "updated_at",
)  # fmt: skip
VIEW_COLUMNS = tuple(_customers[name] for name in VIEW_COLUMN_NAMES)
PHONE_FIELDS = ("number", "type", "sms", "whatsapp", "viber")

CUSTOMER_VIEW: Select[Any] = select(
    *VIEW_COLUMNS,
    select(json_rows(_phones.position, *(_phones[name] for name in PHONE_FIELDS)))
    .where(_phones.customer_id == _customers.id)
    .scalar_subquery()
    .label("phones_json"),
    select(json_rows(_lists.list_name))
    .where(_lists.customer_id == _customers.id)
    .scalar_subquery()
    .label("lists_json"),
    # A tag applied before its `tag.created` reached us is shown by id until it does.
    select(json_rows(_links.tag_id, _tags.name, _tags.color, _tags.order))
    .select_from(CustomerTag.__table__.outerjoin(TagView.__table__, _tags.id == _links.tag_id))
    .where(_links.customer_id == _customers.id)
    .scalar_subquery()
    .label("tags_json"),
)


# --- the parts of the answer, from a view row ---------------------------------------------------
def address_of(customer: Any) -> dict[str, Any]:
    """The main address from its flattened columns (of a view row or a `Customer`)."""
    return {
        "street": customer.address_street,
        "postal_code": customer.address_postal_code,
        "city": customer.address_city,
        "region": customer.address_region,
        "country": customer.address_country,
    }


def source_of(customer: Any) -> dict[str, Any]:
    """The acquisition source from its flattened columns (of a view row or a `Customer`)."""
    return {
        "channel": customer.source_channel,
        "campaign": customer.source_campaign,
        "utm_source": customer.utm_source,
        "utm_medium": customer.utm_medium,
        "utm_campaign": customer.utm_campaign,
        "device": customer.source_device,
    }


def billing_of(customer: Any) -> dict[str, Any]:
    """The billing details, every key present (of a view row or a `Customer`)."""
    billing = customer.billing or {}
    return {
        "legal_name": billing.get("legal_name"),
        "vat_number": billing.get("vat_number"),
        "fiscal_code": billing.get("fiscal_code"),
        "address": billing.get("address"),
    }


def phones_of(row: CustomerView) -> list[dict[str, Any]]:
    """The phones in their order, consent flags as booleans (SQLite's JSON has 0 and 1)."""
    return [
        {"number": number, "type": kind, "sms": bool(sms), "whatsapp": bool(wa), "viber": bool(vb)}
        for _, number, kind, sms, wa, vb in sorted(row.phones_json or (), key=_first)
    ]


def lists_of(row: CustomerView) -> list[str]:
    """The newsletter lists, by name."""
    return sorted(name for (name,) in row.lists_json or ())


def tags_of(row: CustomerView) -> list[dict[str, Any]]:
    """The tags by their order (unordered last), then name, then id."""
    tags = [
        {"id": str(uuid.UUID(str(tag_id))), "name": name, "color": color, "order": order}
        for tag_id, name, color, order in row.tags_json or ()
    ]
    return sorted(tags, key=_tag_order)


def login_of(row: CustomerView) -> dict[str, Any]:
    """Whether the customer may sign in, and whether the email is confirmed."""
    return {"enabled": bool(row.login_enabled), "email_confirmed": bool(row.email_confirmed)}


def custom_fields_of(row: Any) -> dict[str, Any]:
    """The custom field values by key (none is an empty object)."""
    return dict(row.custom_fields or {})


def _first(values: list[Any]) -> Any:
    return values[0]


def _tag_order(tag: dict[str, Any]) -> tuple[bool, int, str, str]:
    order = tag["order"]
    return (order is None, order or 0, (tag["name"] or "").casefold(), tag["id"])


_ADDRESS_KEYS = ("street", "postal_code", "city", "region", "country")


def _address_json(address: dict[str, Any] | None) -> dict[str, Any] | None:
    # As marshmallow dumps a dict: the keys it has, strings as strings.
    if address is None:
        return None
    return {key: _text(address[key]) for key in _ADDRESS_KEYS if key in address}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def customer_json(row: CustomerView) -> dict[str, Any]:
    """What `CustomerSchema` answers for a view row, as JSON-ready values."""
    billing = billing_of(row)
    discount = row.discount_percent
    return {
        "id": str(row.id),
        "kind": _text(row.kind),
        "first_name": _text(row.first_name),
        "last_name": _text(row.last_name),
        "company_name": _text(row.company_name),
        "email": _text(row.email),
        "website": _text(row.website),
        "birth_date": row.birth_date.isoformat() if row.birth_date else None,
        "gender": _text(row.gender),
        "language": _text(row.language),
        "address": _address_json(address_of(row)),
        "phones": phones_of(row),
        "email_consent": bool(row.email_consent),
        "newsletter_subscribed": bool(row.newsletter_subscribed),
        "newsletter_lists": lists_of(row),
        "billing": {
            "legal_name": _text(billing["legal_name"]),
            "vat_number": _text(billing["vat_number"]),
            "fiscal_code": _text(billing["fiscal_code"]),
            "address": _address_json(billing["address"]),
        },
        "shipping_addresses": [_address_json(address) for address in row.shipping_addresses or []],
        "is_supplier": bool(row.is_supplier),
        "is_conflict": bool(row.is_conflict),
        "status": _text(row.status),
        "tags": tags_of(row),
        "source": {key: _text(value) for key, value in source_of(row).items()},
        "notes": _text(row.notes),
        "discount_percent": None if discount is None else format(discount, "f"),
        "login": login_of(row),
        "custom_fields": custom_fields_of(row),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


DERIVED_FIELDS: dict[str, Any] = {
    "address": address_of,
    "phones": phones_of,
    "newsletter_lists": lists_of,
    "tags": tags_of,
    "source": source_of,
    "billing": billing_of,
    "login": login_of,
    "custom_fields": custom_fields_of,
}
"""The contract fields that are not a column of the view row, each from the row."""
