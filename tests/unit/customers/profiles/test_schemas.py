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


def _view_row(**columns: Any) -> Any:
    """A stand-in for a `CUSTOMER_VIEW` row: every column None or empty unless given."""
    from types import SimpleNamespace

    from services.customers.profiles.representation import VIEW_COLUMNS

    values: dict[str, Any] = {column.name: None for column in VIEW_COLUMNS}
    values.update(phones_json=[], lists_json=[], tags_json=[], shipping_addresses=[])
    values.update(columns)
    return SimpleNamespace(**values)


def _rich_customer() -> Any:
    import uuid
    from datetime import UTC, date, datetime
    from decimal import Decimal

    return _view_row(
        id=uuid.uuid4(),
        kind="company",
        first_name="Ada",
        company_name="Lovelace & Co",
        email="ada@example.com",
        website="https://example.com",
        birth_date=date(1815, 12, 10),
        gender="female",
        language="fr_BE",
        address_street="1 rue de la Paix",
        address_postal_code="75002",
        address_city="Paris",
        address_country="FR",
        email_consent=True,
        newsletter_subscribed=False,
        billing={
            "legal_name": "Lovelace SARL",
            "vat_number": "FR40303265045",
            "address": {"city": "Lyon", "country": "FR"},
        },
        shipping_addresses=[
            {
                "street": "2 quai",
                "postal_code": "69001",
                "city": "Lyon",
                "region": None,
                "country": "FR",
            },
            {"city": "Nantes"},
        ],
        is_supplier=True,
        is_conflict=False,
        status="vip",
        source_channel="fair",
        utm_source="newsletter",
        notes="line one\nline two",
        discount_percent=Decimal("12.50"),
        login_enabled=True,
        email_confirmed=False,
        version=3,
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        updated_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
        # As SQLite's JSON gives them: booleans as 0/1, UUIDs as hex, rows in no order.
        phones_json=[
            [1, "+33123456789", "work", 0, 1, 0],
            [0, "+33612345678", "mobile", True, False, False],
        ],
        lists_json=[["promos"], ["news"]],
        tags_json=[
            [uuid.uuid4().hex, None, None, None],
            [str(uuid.uuid4()), "VIP", "#ffd700", 1],
        ],
    )


def test_a_view_row_answers_its_children_in_order_with_json_types() -> None:
    from services.customers.profiles.representation import customer_json

    answer = customer_json(_rich_customer())
    assert [phone["number"] for phone in answer["phones"]] == ["+33612345678", "+33123456789"]
    assert answer["phones"][1] == {
        "number": "+33123456789",
        "type": "work",
        "sms": False,
        "whatsapp": True,
        "viber": False,
    }
    assert answer["newsletter_lists"] == ["news", "promos"]
    assert [tag["name"] for tag in answer["tags"]] == ["VIP", None]  # unordered tags last
    assert all(len(tag["id"]) == 36 for tag in answer["tags"])  # hex from SQLite, dashed


def test_the_fast_customer_json_equals_marshmallows_dump_of_the_schema() -> None:
    from services.customers.profiles.schemas import CustomerSchema

    schema = CustomerSchema()
    rich = _rich_customer()
    bare = _view_row(
        id=rich.id,
        kind="individual",
        last_name="X",
        email_consent=False,
        newsletter_subscribed=False,
        is_supplier=False,
        is_conflict=False,
        status="lead",
        login_enabled=False,
        email_confirmed=False,
        version=1,
        created_at=rich.created_at,
        updated_at=rich.updated_at,
    )
    for answer in (rich, bare):
        assert schema.dump(answer) == ma.Schema.dump(schema, answer)
    assert schema.dump([rich, bare], many=True) == [
        ma.Schema.dump(schema, rich),
        ma.Schema.dump(schema, bare),
    ]
