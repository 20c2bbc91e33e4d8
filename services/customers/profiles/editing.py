"""Writing a validated request body onto a customer: the rules that need several fields.

The schemas have already checked and normalised each field on its own; here come the rules
that need the rest of the profile or a setting: names by kind, phones (default region),
VAT numbers (the billing country), and PATCH's merge of objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from services.customers.fields.values import custom_field_errors
from services.customers.models import Customer, NewsletterSubscription, Phone
from services.customers.profiles import validation
from services.customers.profiles.consent import PHONE_CHANNELS
from services.customers.profiles.drafts import CustomerDraft, PhoneDraft, SubscriptionDraft
from services.customers.profiles.errors import InvalidProfile
from services.customers.profiles.representation import address_of, billing_of, source_of

PLAIN_FIELDS = (
    "kind",
    "first_name",
    "last_name",
    "company_name",
    "website",
    "birth_date",
    "gender",
    "language",
    "email_consent",
    "newsletter_subscribed",
    "is_supplier",
    "is_conflict",
    "notes",
    "discount_percent",
)
ADDRESS_COLUMNS = {
    "street": "address_street",
    "postal_code": "address_postal_code",
    "city": "address_city",
    "region": "address_region",
    "country": "address_country",
}
SOURCE_COLUMNS = {
    "channel": "source_channel",
    "campaign": "source_campaign",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "device": "source_device",
}
ADDRESS_KEYS = tuple(ADDRESS_COLUMNS)
BILLING_KEYS = ("legal_name", "vat_number", "fiscal_code", "address")


def editable_state(customer: Customer) -> dict[str, Any]:
    """The writable contract fields of a customer, comparable before and after a change."""
    state = {name: getattr(customer, name) for name in PLAIN_FIELDS}
    state.update(
        email=customer.email,
        address=address_of(customer),
        phones=[
            (phone.number, phone.type, phone.sms, phone.whatsapp, phone.viber)
            for phone in customer.phones
        ],
        newsletter_lists=sorted(s.list_name for s in customer.newsletter_lists),
        billing=billing_of(customer),
        shipping_addresses=list(customer.shipping_addresses or []),
        source=source_of(customer),
        custom_fields=dict(customer.custom_fields or {}),
    )
    return state


def apply_profile(
    session: Session, customer: Customer, body: Mapping[str, Any], phone_region: str
) -> None:
    """Write the body's fields onto the customer; InvalidProfile naming every field refused.

    Objects (address, billing, source) are merged into what the customer has; lists (phones,
    newsletter lists, shipping addresses) are replaced; null clears a field or an object.
    `custom_fields` are merged key by key (null removes one) and checked against the definitions
    of the customer's kind; a customer not yet in the database must have every required one.
    """
    errors: dict[str, Any] = {}
    with session.no_autoflush:
        for name in PLAIN_FIELDS:
            if name in body:
                setattr(customer, name, body[name])
        if "email" in body:
            customer.email = body["email"]
            customer.email_key = validation.email_key(body["email"])
        if "address" in body:
            address = merged_object(address_of(customer), body["address"], ADDRESS_KEYS)
            for key, column in ADDRESS_COLUMNS.items():
                setattr(customer, column, address[key])
        if "source" in body:
            source = merged_object(source_of(customer), body["source"], tuple(SOURCE_COLUMNS))
            for key, column in SOURCE_COLUMNS.items():
                setattr(customer, column, source[key])
        if "billing" in body:
            _apply_billing(customer, body["billing"], errors)
        if "shipping_addresses" in body:
            customer.shipping_addresses = [
                merged_object({}, address, ADDRESS_KEYS) for address in body["shipping_addresses"]
            ]
        if "phones" in body:
            _apply_phones(customer, body["phones"], phone_region, errors)
        if "newsletter_lists" in body:
            _apply_newsletter_lists(customer, body["newsletter_lists"])
    errors.update(
        validation.name_errors(
            customer.kind, customer.first_name, customer.last_name, customer.company_name
        )
    )
    creating = isinstance(customer, CustomerDraft) or (
        inspect(customer).transient or inspect(customer).pending
    )
    checked = creating or "custom_fields" in body or "kind" in body
    if checked and (
        custom := custom_field_errors(session, customer, body.get("custom_fields"), creating)
    ):
        errors["custom_fields"] = custom
    if errors:
        raise InvalidProfile(errors)


def merged_object(
    current: Mapping[str, Any], given: Mapping[str, Any] | None, keys: tuple[str, ...]
) -> dict[str, Any]:
    """`given` merged into `current` (every key present); null clears the whole object."""
    if given is None:
        return dict.fromkeys(keys)
    return {key: given[key] if key in given else current.get(key) for key in keys}


def _apply_billing(
    customer: Customer, given: Mapping[str, Any] | None, errors: dict[str, Any]
) -> None:
    if given is None:
        customer.billing = None
        return
    current = billing_of(customer)
    billing = merged_object(current, given, BILLING_KEYS)
    if "address" in given:
        billing["address"] = (
            None
            if given["address"] is None
            else merged_object(current["address"] or {}, given["address"], ADDRESS_KEYS)
        )
    if billing["vat_number"] and "vat_number" in given:
        country = (billing["address"] or {}).get("country") or customer.address_country
        try:
            billing["vat_number"] = validation.normalize_vat_number(billing["vat_number"], country)
        except ValueError as exc:
            errors["billing"] = {"vat_number": [str(exc)]}
    empty = all(value is None for value in billing.values())
    customer.billing = None if empty else billing


def _apply_phones(
    customer: Customer, given: list[Mapping[str, Any]], region: str, errors: dict[str, Any]
) -> None:
    current = {phone.number: phone for phone in customer.phones}
    make: Any = PhoneDraft if isinstance(customer, CustomerDraft) else Phone
    phones: list[Phone] = []
    refused: dict[int, Any] = {}
    seen: set[str] = set()
    for position, item in enumerate(given):
        try:
            number = validation.normalize_phone(item["number"], region)
        except ValueError as exc:
            refused[position] = {"number": [str(exc)]}
            continue
        if number in seen:
            refused[position] = {"number": [f"{number} is listed twice"]}
            continue
        seen.add(number)
        # A flag left out keeps what the number had (a number new to the profile starts off).
        known = current.get(number)
        flags = {
            channel: item[channel] if channel in item else bool(known and getattr(known, channel))
            for channel in PHONE_CHANNELS
        }
        kind = item.get("type") or (known.type if known else "mobile")
        phones.append(make(position=position, number=number, type=kind, **flags))
    if refused:
        errors["phones"] = refused
        return
    customer.phones = phones


def _apply_newsletter_lists(customer: Customer, names: list[str]) -> None:
    wanted = list(dict.fromkeys(names))
    kept = [s for s in customer.newsletter_lists if s.list_name in wanted]
    kept_names = {s.list_name for s in kept}
    make: Any = SubscriptionDraft if isinstance(customer, CustomerDraft) else NewsletterSubscription
    customer.newsletter_lists = kept + [
        make(list_name=name) for name in wanted if name not in kept_names
    ]
