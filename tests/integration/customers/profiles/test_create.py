"""Creating customers on PostgreSQL: every field normalised, every bad input refused unchanged."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from services.customers.models import Customer
from tests.backbone import wait_until

pytestmark = pytest.mark.needs_postgres

FULL_BODY: dict[str, Any] = {
    "kind": "individual",
    "first_name": "  Élodie ",
    "last_name": "Dupont",
    "email": "Elodie.Dupont@Exemple.FR",
    "website": "www.dupont.example",
    "birth_date": "1985-04-12",
    "gender": "female",
    "language": "fr-be",
    "address": {
        "street": "12 rue des Lilas",
        "postal_code": "75011",
        "city": "Paris",
        "region": "Île-de-France",
        "country": "fr",
    },
    "phones": [
        {"number": "06 12 34 56 78", "type": "Mobile"},
        {"number": "+32 470 12 34 56", "type": "Bureau Bruxelles"},
    ],
    "newsletter_lists": ["promotions", "nouveautés", "promotions"],
    "billing": {
        "legal_name": "Élodie Dupont EI",
        "vat_number": "fr 40 303 265 045",
        "fiscal_code": "DPNLDE85D52",
        "address": {"street": "1 place du Marché", "city": "Lyon", "country": "FR"},
    },
    "shipping_addresses": [{"street": "3 allée Verte", "postal_code": "69001", "city": "Lyon"}],
    "is_supplier": True,
    "is_conflict": False,
    "status": "prospect",
    "source": {"channel": "salon", "utm_source": "newsletter", "device": "iPhone"},
    "notes": "Rencontrée au salon.\nRappeler en mars.",
    "discount_percent": "12.5",
}


def test_creating_a_customer_answers_201_with_every_field_normalised_and_its_etag(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    response = client.post("/customers", json=FULL_BODY, headers=writer)

    assert response.status_code == 201, response.get_json()
    customer = response.get_json()
    assert response.headers["ETag"] == f'"{customer["id"]}-1"'
    assert response.headers["Location"].endswith(f"/customers/{customer['id']}")
    assert customer["first_name"] == "Élodie"
    assert customer["email"] == "Elodie.Dupont@exemple.fr"
    assert customer["website"] == "https://www.dupont.example"
    assert customer["language"] == "fr_BE"
    assert customer["address"]["country"] == "FR"
    assert customer["phones"] == [
        {
            "number": "+33612345678",
            "type": "mobile",
            "sms": False,
            "whatsapp": False,
            "viber": False,
        },
        {
            "number": "+32470123456",
            "type": "Bureau Bruxelles",
            "sms": False,
            "whatsapp": False,
            "viber": False,
        },
    ]
    assert customer["newsletter_lists"] == ["nouveautés", "promotions"]
    assert customer["billing"]["vat_number"] == "FR40303265045"
    assert customer["billing"]["address"] == {
        "street": "1 place du Marché",
        "postal_code": None,
        "city": "Lyon",
        "region": None,
        "country": "FR",
    }
    assert customer["shipping_addresses"][0]["city"] == "Lyon"
    assert customer["status"] == "prospect"
    assert customer["source"]["channel"] == "salon"
    assert customer["source"]["campaign"] is None
    assert customer["discount_percent"] == "12.50"
    assert customer["tags"] == []
    assert customer["login"] == {"enabled": False, "email_confirmed": False}
    assert customer["is_supplier"] is True
    assert customer["created_at"].endswith("+00:00")


def test_a_customer_reads_back_as_it_was_created(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    created = client.post("/customers", json=FULL_BODY, headers=writer).get_json()

    response = client.get(f"/customers/{created['id']}", headers=writer)

    assert response.status_code == 200
    assert response.get_json() == created
    assert response.headers["ETag"] == f'"{created["id"]}-1"'


def test_a_company_is_created_with_its_company_name_only(
    new_customer: Callable[..., dict[str, Any]],
) -> None:
    customer = new_customer(kind="company", first_name=None, last_name=None, company_name="ACME")

    assert customer["kind"] == "company"
    assert customer["company_name"] == "ACME"
    assert customer["status"] == "lead"


def test_creating_writes_customer_created_with_the_contact_fields(
    new_customer: Callable[..., dict[str, Any]], outbox: Callable[..., list[dict[str, Any]]]
) -> None:
    customer = new_customer(email="jeanne@example.com", language="fr")

    [event] = outbox("customer.created", subject=customer["id"])
    assert event["source"] == "customers"
    assert event["data"] == {
        "customer_id": customer["id"],
        "kind": "individual",
        "status": "lead",
        "customer": {
            "email": "jeanne@example.com",
            "language": "fr",
            "first_name": "Jeanne",
            "last_name": "Martin",
            "company_name": None,
            "email_consent": False,
            "newsletter_subscribed": False,
        },
    }


def test_creating_fills_the_sort_name_and_the_search_text(
    new_customer: Callable[..., dict[str, Any]], stored: Callable[[str], Customer | None]
) -> None:
    customer = new_customer(
        first_name="Jean",
        last_name="Dupré",
        email="J.Dupre@Example.com",
        phones=[{"number": "06 12 34 56 78"}],
    )

    row = stored(customer["id"])
    assert row is not None
    assert row.sort_name == "dupré jean"
    assert row.search_text == ("jean dupré j.dupre@example.com +33612345678 33612345678 0612345678")
    assert row.email_key == "j.dupre@example.com"


def test_a_phone_without_country_code_is_read_in_the_default_region(
    client: FlaskClient,
    writer: dict[str, str],
    pg_settings: Callable[..., Any],
) -> None:
    from services.customers.app import create_app

    app = create_app(pg_settings("customers", default_phone_region="BE"))
    body = {"kind": "individual", "last_name": "Peeters", "phones": [{"number": "0470 12 34 56"}]}
    try:
        response = app.test_client().post("/customers", json=body, headers=writer)
    finally:
        app.extensions["crm"].engine.dispose()

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phones"][0]["number"] == "+32470123456"


def test_a_duplicate_email_in_any_case_is_a_409_naming_the_existing_customer(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    counts: Callable[[], dict[str, int]],
) -> None:
    existing = new_customer(email="jeanne@example.com")
    before = counts()

    response = client.post(
        "/customers",
        json={"kind": "individual", "last_name": "Autre", "email": "JEANNE@example.COM"},
        headers=writer,
    )

    assert response.status_code == 409
    assert existing["id"] in response.get_json()["errors"]["json"]["email"][0]
    assert counts() == before


BAD_BODIES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"first_name": "Jeanne"}, ("kind",)),
    ({"kind": "person", "first_name": "Jeanne"}, ("kind",)),
    ({"kind": "company", "first_name": "Jeanne"}, ("company_name",)),
    ({"kind": "company", "company_name": "   "}, ("company_name",)),
    ({"kind": "individual"}, ("first_name",)),
    ({"kind": "individual", "first_name": " ", "last_name": ""}, ("first_name",)),
    ({"kind": "individual", "first_name": "x" * 101}, ("first_name",)),
    ({"kind": "individual", "first_name": "Jo\x00"}, ("first_name",)),
    ({"kind": "individual", "last_name": "M", "email": "not-an-email"}, ("email",)),
    ({"kind": "individual", "last_name": "M", "email": "a@b@example.com"}, ("email",)),
    ({"kind": "individual", "last_name": "M", "email": 42}, ("email",)),
    ({"kind": "individual", "last_name": "M", "phones": [{"number": "12"}]}, ("phones", "0")),
    ({"kind": "individual", "last_name": "M", "phones": [{"number": "abc"}]}, ("phones", "0")),
    (
        {"kind": "individual", "last_name": "M", "phones": [{"number": "+33 1 23"}]},
        ("phones", "0"),
    ),
    (
        {
            "kind": "individual",
            "last_name": "M",
            "phones": [{"number": "06 12 34 56 78"}, {"number": "+33612345678"}],
        },
        ("phones", "1"),
    ),
    (
        {"kind": "individual", "last_name": "M", "phones": [{"number": "0612345678", "type": ""}]},
        ("phones", "0"),
    ),
    (
        {"kind": "individual", "last_name": "M", "phones": [{"number": "0612345678", "sms": 1}]},
        ("phones", "0"),
    ),
    (
        {"kind": "individual", "last_name": "M", "phones": [{"number": "0612345678", "fax": 1}]},
        ("phones", "0"),
    ),
    ({"kind": "individual", "last_name": "M", "birth_date": "2999-01-01"}, ("birth_date",)),
    ({"kind": "individual", "last_name": "M", "birth_date": "12/04/1985"}, ("birth_date",)),
    ({"kind": "individual", "last_name": "M", "language": "klingon"}, ("language",)),
    ({"kind": "individual", "last_name": "M", "language": "fr_XX"}, ("language",)),
    ({"kind": "individual", "last_name": "M", "gender": "f"}, ("gender",)),
    ({"kind": "individual", "last_name": "M", "website": "ftp://files.example"}, ("website",)),
    ({"kind": "individual", "last_name": "M", "website": "not a url"}, ("website",)),
    ({"kind": "individual", "last_name": "M", "website": "javascript:alert(1)"}, ("website",)),
    ({"kind": "individual", "last_name": "M", "address": {"country": "France"}}, ("address",)),
    ({"kind": "individual", "last_name": "M", "address": {"town": "Paris"}}, ("address",)),
    ({"kind": "individual", "last_name": "M", "address": "Paris"}, ("address",)),
    (
        {"kind": "individual", "last_name": "M", "billing": {"vat_number": "FR123"}},
        ("billing", "vat_number"),
    ),
    (
        {"kind": "individual", "last_name": "M", "billing": {"vat_number": "US123456789"}},
        ("billing", "vat_number"),
    ),
    (
        {"kind": "individual", "last_name": "M", "shipping_addresses": [{"country": "XX"}]},
        ("shipping_addresses",),
    ),
    ({"kind": "individual", "last_name": "M", "discount_percent": "100.01"}, ("discount_percent",)),
    ({"kind": "individual", "last_name": "M", "discount_percent": "-1"}, ("discount_percent",)),
    ({"kind": "individual", "last_name": "M", "discount_percent": "12.345"}, ("discount_percent",)),
    ({"kind": "individual", "last_name": "M", "discount_percent": "NaN"}, ("discount_percent",)),
    ({"kind": "individual", "last_name": "M", "discount_percent": "douze"}, ("discount_percent",)),
    ({"kind": "individual", "last_name": "M", "status": "gold"}, ("status",)),
    ({"kind": "individual", "last_name": "M", "is_supplier": "yes"}, ("is_supplier",)),
    ({"kind": "individual", "last_name": "M", "newsletter_lists": [""]}, ("newsletter_lists",)),
    ({"kind": "individual", "last_name": "M", "source": {"referrer": "x"}}, ("source",)),
    ({"kind": "individual", "last_name": "M", "favourite_colour": "blue"}, ("favourite_colour",)),
    (
        {"kind": "individual", "last_name": "M", "id": "6f1c1e1e-0000-4000-8000-000000000000"},
        ("id",),
    ),
    ({"kind": "individual", "last_name": "M", "tags": []}, ("tags",)),
    ({"kind": "individual", "last_name": "M", "login": {"enabled": True}}, ("login",)),
    (
        {"kind": "individual", "last_name": "M", "created_at": "2020-01-01T00:00:00Z"},
        ("created_at",),
    ),
    (
        {"kind": "individual", "last_name": "M", "consent": {"source": "form"}},
        ("consent", "obtained_at"),
    ),
    (
        {
            "kind": "individual",
            "last_name": "M",
            "consent": {"source": " ", "obtained_at": "2024-01-01T00:00:00Z"},
        },
        ("consent", "source"),
    ),
    (
        {
            "kind": "individual",
            "last_name": "M",
            "consent": {"source": "form", "obtained_at": "2999-01-01T00:00:00Z"},
        },
        ("consent", "obtained_at"),
    ),
    (
        {
            "kind": "individual",
            "last_name": "M",
            "consent": {"source": "form", "obtained_at": "2024-01-01T00:00:00"},
        },
        ("consent", "obtained_at"),
    ),
]


@pytest.mark.parametrize(("body", "path"), BAD_BODIES)
def test_invalid_customers_are_refused_with_a_422_naming_the_field_and_nothing_is_written(
    client: FlaskClient,
    writer: dict[str, str],
    counts: Callable[[], dict[str, int]],
    body: dict[str, Any],
    path: tuple[str, ...],
) -> None:
    before = counts()

    response = client.post("/customers", json=body, headers=writer)

    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]["json"]
    for key in path:
        assert key in errors, (path, errors)
        errors = errors[key]
    assert errors
    assert counts() == before


def test_read_only_fields_are_named_as_such(client: FlaskClient, writer: dict[str, str]) -> None:
    body = {"kind": "individual", "last_name": "M", "tags": [], "login": {}}

    response = client.post("/customers", json=body, headers=writer)

    errors = response.get_json()["errors"]["json"]
    assert errors == {
        "tags": ["tags is read-only and cannot be written"],
        "login": ["login is read-only and cannot be written"],
    }


def test_a_body_that_is_not_a_json_object_is_a_422(
    client: FlaskClient, writer: dict[str, str], counts: Callable[[], dict[str, int]]
) -> None:
    before = counts()

    response = client.post("/customers", json=["kind", "individual"], headers=writer)

    assert response.status_code == 422
    assert counts() == before


def test_a_concurrent_create_with_the_same_email_is_a_409_not_a_500(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    counts: Callable[[], dict[str, int]],
) -> None:
    rival_id = uuid.uuid4()
    answers: list[Any] = []
    with app.extensions["crm"].session_factory() as rival:
        # The rival's row is written but not committed: the request's check cannot see it yet,
        # and its insert waits on the unique index until the rival commits.
        rival.add(
            Customer(
                id=rival_id,
                kind="individual",
                last_name="Rival",
                email="race@example.com",
                email_key="race@example.com",
            )
        )
        rival.flush()
        body = {"kind": "individual", "last_name": "Late", "email": "Race@example.com"}
        request = threading.Thread(
            target=lambda: answers.append(client.post("/customers", json=body, headers=writer))
        )
        request.start()
        wait_until(lambda: _waits_on_a_lock(app), timeout=10)
        rival.commit()
        request.join(timeout=10)

    [response] = answers
    assert response.status_code == 409, response.get_json()
    assert str(rival_id) in response.get_json()["message"]
    assert counts()["customers"] == 1
    assert counts()["outbox"] == 0


def _waits_on_a_lock(app: Flask) -> bool:
    with app.extensions["crm"].session_factory() as session:
        waiting = session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)
