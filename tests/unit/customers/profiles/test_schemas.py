"""The profile request schemas: normalised fields, read-only and unknown fields refused by name."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import marshmallow as ma
import pytest

from services.customers.profiles.schemas import CustomerCreateSchema, CustomerUpdateSchema


def errors_of(schema: ma.Schema, body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ma.ValidationError) as refused:
        schema.load(body)
    return dict(refused.value.messages)  # type: ignore[arg-type]


def test_text_is_trimmed_and_blank_text_is_null() -> None:
    loaded = CustomerUpdateSchema().load(
        {"first_name": "  Jo ", "notes": "  ", "company_name": None}
    )

    assert loaded == {"first_name": "Jo", "notes": None, "company_name": None}


def test_notes_keep_their_line_breaks_but_names_refuse_control_characters() -> None:
    assert CustomerUpdateSchema().load({"notes": "a\nb"})["notes"] == "a\nb"
    assert "last_name" in errors_of(CustomerUpdateSchema(), {"last_name": "a\nb"})


@pytest.mark.parametrize("value", [1, 0, "true", "yes", None])
def test_flags_are_json_booleans_only(value: Any) -> None:
    assert "is_supplier" in errors_of(CustomerUpdateSchema(), {"is_supplier": value})


@pytest.mark.parametrize("field", ["id", "tags", "login", "created_at", "updated_at"])
def test_read_only_fields_are_refused_by_name(field: str) -> None:
    errors = errors_of(CustomerUpdateSchema(), {field: "x"})

    assert errors == {field: [f"{field} is read-only and cannot be written"]}


def test_unknown_fields_are_refused_by_name() -> None:
    assert "shoe_size" in errors_of(CustomerUpdateSchema(), {"shoe_size": 42})


def test_a_new_customer_needs_its_kind() -> None:
    assert "kind" in errors_of(CustomerCreateSchema(), {"last_name": "Martin"})


def test_a_discount_loads_from_a_string_or_a_number_with_two_decimals() -> None:
    assert CustomerUpdateSchema().load({"discount_percent": "7.5"})["discount_percent"] == Decimal(
        "7.50"
    )
    assert CustomerUpdateSchema().load({"discount_percent": 10})["discount_percent"] == Decimal(
        "10.00"
    )
    assert "discount_percent" in errors_of(CustomerUpdateSchema(), {"discount_percent": True})


def test_phones_keep_only_the_flags_that_were_sent() -> None:
    loaded = CustomerUpdateSchema().load({"phones": [{"number": "0612345678", "sms": True}]})

    assert loaded["phones"] == [{"number": "0612345678", "sms": True}]


def test_a_consent_record_needs_how_and_an_aware_time_not_in_the_future() -> None:
    errors = errors_of(
        CustomerCreateSchema(),
        {"kind": "company", "company_name": "X", "consent": {"source": ""}},
    )

    assert set(errors["consent"]) == {"source", "obtained_at"}
