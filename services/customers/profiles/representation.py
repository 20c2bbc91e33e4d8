"""A customer as the API answers it, built from its columns: the JSON every endpoint returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.customers.models import Customer, TagView


@dataclass(frozen=True)
class CustomerWithTags:
    """A customer and the tags it carries (from the local tag catalogue), as the API answers it."""

    customer: Customer
    tags: list[TagView]


def address_of(customer: Customer) -> dict[str, Any]:
    """The main address from its flattened columns."""
    return {
        "street": customer.address_street,
        "postal_code": customer.address_postal_code,
        "city": customer.address_city,
        "region": customer.address_region,
        "country": customer.address_country,
    }


def source_of(customer: Customer) -> dict[str, Any]:
    """The acquisition source from its flattened columns."""
    return {
        "channel": customer.source_channel,
        "campaign": customer.source_campaign,
        "utm_source": customer.utm_source,
        "utm_medium": customer.utm_medium,
        "utm_campaign": customer.utm_campaign,
        "device": customer.source_device,
    }


def billing_of(customer: Customer) -> dict[str, Any]:
    """The billing details, every key present."""
    billing = customer.billing or {}
    return {
        "legal_name": billing.get("legal_name"),
        "vat_number": billing.get("vat_number"),
        "fiscal_code": billing.get("fiscal_code"),
        "address": billing.get("address"),
    }


_ADDRESS_KEYS = ("street", "postal_code", "city", "region", "country")


def _address_json(address: dict[str, Any] | None) -> dict[str, Any] | None:
    # As marshmallow dumps a dict: the keys it has, strings as strings.
    if address is None:
        return None
    return {key: _text(address[key]) for key in _ADDRESS_KEYS if key in address}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def customer_json(answer: CustomerWithTags) -> dict[str, Any]:
    """What `CustomerSchema` answers for a customer with its tags, as JSON-ready values."""
    customer = answer.customer
    billing = billing_of(customer)
    discount = customer.discount_percent
    return {
        "id": str(customer.id),
        "kind": _text(customer.kind),
        "first_name": _text(customer.first_name),
        "last_name": _text(customer.last_name),
        "company_name": _text(customer.company_name),
        "email": _text(customer.email),
        "website": _text(customer.website),
        "birth_date": customer.birth_date.isoformat() if customer.birth_date else None,
        "gender": _text(customer.gender),
        "language": _text(customer.language),
        "address": _address_json(address_of(customer)),
        "phones": [
            {
                "number": _text(phone.number),
                "type": _text(phone.type),
                "sms": phone.sms,
                "whatsapp": phone.whatsapp,
                "viber": phone.viber,
            }
            for phone in customer.phones
        ],
        "email_consent": customer.email_consent,
        "newsletter_subscribed": customer.newsletter_subscribed,
        "newsletter_lists": sorted(s.list_name for s in customer.newsletter_lists),
        "billing": {
            "legal_name": _text(billing["legal_name"]),
            "vat_number": _text(billing["vat_number"]),
            "fiscal_code": _text(billing["fiscal_code"]),
            "address": _address_json(billing["address"]),
        },
        "shipping_addresses": [
            _address_json(address) for address in customer.shipping_addresses or []
        ],
        "is_supplier": customer.is_supplier,
        "is_conflict": customer.is_conflict,
        "status": _text(customer.status),
        "tags": [
            {"id": str(tag.id), "name": tag.name, "color": tag.color, "order": tag.order}
            for tag in answer.tags
        ],
        "source": {key: _text(value) for key, value in source_of(customer).items()},
        "notes": _text(customer.notes),
        "discount_percent": None if discount is None else format(discount, "f"),
        "login": {"enabled": customer.login_enabled, "email_confirmed": customer.email_confirmed},
        "created_at": customer.created_at.isoformat(),
        "updated_at": customer.updated_at.isoformat(),
    }


def tag_state(tag: TagView) -> dict[str, Any]:
    return {"id": tag.id, "name": tag.name, "color": tag.color, "order": tag.order}


DERIVED_FIELDS: dict[str, Any] = {
    "address": address_of,
    "source": source_of,
    "billing": billing_of,
    "newsletter_lists": lambda c: sorted(s.list_name for s in c.newsletter_lists),
    "login": lambda c: {"enabled": c.login_enabled, "email_confirmed": c.email_confirmed},
}
