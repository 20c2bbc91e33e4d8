"""The columns of a customers export and each customer as a CSV record: pure functions.

One column per contract field, headed by its name as `POST /customers/imports` reads it back:
the address, billing and source objects flattened (`address.city`, `billing.address.city`),
phones, newsletter lists and tags one column each (`|` between items), shipping addresses as
their JSON, then one column per custom field headed by its key. Cells a spreadsheet would run
as a formula (`=`, `+`, `-`, `@`, tab, carriage return first) get a `'` in front (OWASP CSV
injection); the import takes it off again (`imports.columns.unneutralised`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from services.customers.fields.rules import value_to_text
from services.customers.imports.columns import FORMULA_STARTS
from services.customers.profiles.representation import (
    CustomerView,
    billing_of,
    lists_of,
    phones_of,
    tags_of,
)

ITEM_SEPARATOR = "|"
ADDRESS_PARTS = ("street", "postal_code", "city", "region", "country")
SOURCE_COLUMNS = {
    "source.channel": "source_channel",
    "source.campaign": "source_campaign",
    "source.utm_source": "utm_source",
    "source.utm_medium": "utm_medium",
    "source.utm_campaign": "utm_campaign",
    "source.device": "source_device",
}
# (header, the view row's column) for the contract fields that are one column each.
_HEAD = ("id", "kind", "first_name", "last_name", "company_name", "email", "website",
         "birth_date", "gender", "language")  # fmt: skip
_ADDRESS = tuple((f"address.{part}", f"address_{part}") for part in ADDRESS_PARTS)
_FLAGS = ("email_consent", "newsletter_subscribed")
_BILLING = ("billing.legal_name", "billing.vat_number", "billing.fiscal_code")
_BILLING_ADDRESS = tuple(f"billing.address.{part}" for part in ADDRESS_PARTS)
_TAIL = ("is_supplier", "is_conflict", "status")
_LAST = ("notes", "discount_percent", "login.enabled", "login.email_confirmed", "created_at",
         "updated_at")  # fmt: skip

HEADER: tuple[str, ...] = (
    *_HEAD,
    *(name for name, _ in _ADDRESS),
    "phones",
    *_FLAGS,
    "newsletter_lists",
    *_BILLING,
    *_BILLING_ADDRESS,
    "shipping_addresses",
    *_TAIL,
    "tags",
    *SOURCE_COLUMNS,
    *_LAST,
)
"""The contract fields' columns, in order (custom fields' keys follow)."""


def header(custom_keys: Sequence[str]) -> list[str]:
    """The header row: the contract fields, then each custom field's key."""
    return [*HEADER, *custom_keys]


_FORMULA_STARTS = frozenset(FORMULA_STARTS)
# SQLite answers 1 and 0, which hash as True and False.
_BOOLEANS = {True: "true", False: "false", None: "false"}


def neutralised(cell: str) -> str:
    """A cell a spreadsheet will show as text: a `'` before one that would run as a formula."""
    if cell[:1] in _FORMULA_STARTS:
        return "'" + cell
    return cell


def _text(value: Any) -> str:
    """A column's value as a cell: strings as they are, dates in ISO 8601, nothing blank."""
    if value is None:
        return ""
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


# The view row's columns that are cells as they are (text, dates), in the header's order.
_HEAD_COLUMNS = (*_HEAD, *(column for _, column in _ADDRESS))
_SOURCE = tuple(SOURCE_COLUMNS.values())


def record(row: CustomerView, custom_keys: Sequence[str]) -> list[str]:
    """One customer (a `CUSTOMER_VIEW` row) as the cells of `header(custom_keys)`, neutralised.

    Called a million times by a large export: plain loops over known columns, no dumping of
    the whole answer (`customer_json`), the same parts (`phones_of`, `tags_of`…) as the API's.
    """
    billing = billing_of(row)
    billing_address = billing["address"] or {}
    custom = row.custom_fields or {}
    shipping = row.shipping_addresses
    discount = row.discount_percent
    cells = [_text(getattr(row, name)) for name in _HEAD_COLUMNS]
    cells += (
        ITEM_SEPARATOR.join(phone["number"] for phone in phones_of(row)),
        _BOOLEANS[row.email_consent],
        _BOOLEANS[row.newsletter_subscribed],
        ITEM_SEPARATOR.join(lists_of(row)),
        _text(billing["legal_name"]),
        _text(billing["vat_number"]),
        _text(billing["fiscal_code"]),
        *(_text(billing_address.get(part)) for part in ADDRESS_PARTS),
        json.dumps(shipping, ensure_ascii=False) if shipping else "",
        _BOOLEANS[row.is_supplier],
        _BOOLEANS[row.is_conflict],
        _text(row.status),
        ITEM_SEPARATOR.join(tag["name"] or tag["id"] for tag in tags_of(row)),
        *(_text(getattr(row, column)) for column in _SOURCE),
        _text(row.notes),
        "" if discount is None else format(discount, "f"),
        _BOOLEANS[row.login_enabled],
        _BOOLEANS[row.email_confirmed],
        row.created_at.isoformat(),
        row.updated_at.isoformat(),
    )
    if custom_keys:
        cells += (value_to_text(custom.get(key)) for key in custom_keys)
    return [("'" + cell) if cell[:1] in _FORMULA_STARTS else cell for cell in cells]
