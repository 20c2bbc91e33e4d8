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


def _rich_customer() -> Any:
    import uuid
    from datetime import UTC, date, datetime
    from decimal import Decimal

    from services.customers.models import Customer, NewsletterSubscription, Phone, TagView
    from services.customers.profiles.representation import CustomerWithTags

    customer = Customer(
        id=uuid.uuid4(),
        kind="company",
        first_name="Ada",
        last_name=None,
        company_name="Lovelace & Co",
        email="ada@example.com",
        website="https://example.com",
        birth_date=date(1815, 12, 10),
        gender="female",
        language="fr_BE",
        address_street="1 rue de la Paix",
        address_postal_code="75002",
        address_city="Paris",
        address_region=None,
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
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        updated_at=datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC),
        phones=[
            Phone(
                number="+33612345678",
                type="mobile",
                sms=True,
                whatsapp=False,
                viber=False,
                position=0,
            )
        ],
        newsletter_lists=[
            NewsletterSubscription(list_name="promos"),
            NewsletterSubscription(list_name="news"),
        ],
    )
    tags = [
        TagView(id=uuid.uuid4(), name="VIP", color="#ffd700", order=1),
        TagView(id=uuid.uuid4(), name=None, color=None, order=None),
    ]
    return CustomerWithTags(customer, tags)


def test_the_fast_customer_json_equals_marshmallows_dump_of_the_schema() -> None:
    from services.customers.models import Customer
    from services.customers.profiles.representation import CustomerWithTags
    from services.customers.profiles.schemas import CustomerSchema

    schema = CustomerSchema()
    rich = _rich_customer()
    bare = CustomerWithTags(
        Customer(
            id=rich.customer.id,
            kind="individual",
            first_name=None,
            last_name="X",
            company_name=None,
            email=None,
            website=None,
            birth_date=None,
            gender=None,
            language=None,
            email_consent=False,
            newsletter_subscribed=False,
            billing=None,
            shipping_addresses=[],
            is_supplier=False,
            is_conflict=False,
            status="lead",
            discount_percent=None,
            login_enabled=False,
            email_confirmed=False,
            created_at=rich.customer.created_at,
            updated_at=rich.customer.updated_at,
            phones=[],
            newsletter_lists=[],
        ),
        [],
    )
    for answer in (rich, bare):
        assert schema.dump(answer) == ma.Schema.dump(schema, answer)
    assert schema.dump([rich, bare], many=True) == [
        ma.Schema.dump(schema, rich),
        ma.Schema.dump(schema, bare),
    ]
