"""GET /customers/export.csv: columns, filters, delimiter, permission, CSV injection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.customers.export.columns import HEADER
from tests.integration.customers.export.conftest import Headers, download, parse

pytestmark = pytest.mark.needs_postgres

FULL = {
    "kind": "individual",
    "first_name": "Élodie",
    "last_name": "Dupré",
    "email": "elodie@example.com",
    "website": "https://elodie.example.com",
    "birth_date": "1990-04-01",
    "gender": "female",
    "language": "fr_BE",
    "address": {"street": "1 rue de la Paix", "postal_code": "75002", "city": "Paris",
                "country": "FR"},
    "phones": [{"number": "+33612345678"}, {"number": "+33123456789", "type": "work"}],
    "newsletter_lists": ["weekly", "promos"],
    "billing": {"legal_name": "Dupré SARL", "vat_number": "FR40303265045",
                "address": {"city": "Lyon"}},
    "shipping_addresses": [{"street": "2 quai", "city": "Nice"}],
    "is_supplier": True,
    "source": {"channel": "fair", "utm_source": "newsletter", "device": "ios"},
    "notes": "likes tea",
    "discount_percent": "12.5",
}  # fmt: skip


def test_every_contract_field_has_its_column_and_custom_fields_follow_by_key(
    client: FlaskClient, staff: Headers
) -> None:
    field = {"key": "loyalty", "label": "Loyalty", "type": "choice", "options": ["gold"]}
    assert client.post("/customers/fields", json=field, headers=staff).status_code == 201
    body = {**FULL, "custom_fields": {"loyalty": "gold"}}
    created = client.post("/customers", json=body, headers=staff)
    assert created.status_code == 201, created.get_json()
    response = download(client, staff)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["Content-Disposition"]
    (row,) = parse(response.body)
    assert list(row) == [*HEADER, "loyalty"]
    assert row["id"] == created.get_json()["id"]
    assert row["first_name"] == "Élodie" and row["language"] == "fr_BE"
    assert row["address.city"] == "Paris" and row["address.country"] == "FR"
    # Only a cell's first character can start a formula.
    assert row["phones"] == "'+33612345678|+33123456789"
    assert row["newsletter_lists"] == "promos|weekly"
    assert row["billing.legal_name"] == "Dupré SARL"
    assert row["billing.vat_number"] == "FR40303265045"
    assert row["billing.address.city"] == "Lyon"
    assert "Nice" in row["shipping_addresses"]
    assert row["is_supplier"] == "true" and row["is_conflict"] == "false"
    assert row["source.utm_source"] == "newsletter" and row["source.device"] == "ios"
    assert row["discount_percent"] == "12.50"
    assert row["status"] == "lead" and row["login.enabled"] == "false"
    assert row["loyalty"] == "gold"


def test_a_semicolon_delimiter_for_french_spreadsheets(client: FlaskClient, staff: Headers) -> None:
    client.post("/customers", json={**FULL, "notes": "un; deux"}, headers=staff)
    response = download(client, staff, "?delimiter=;")
    assert response.body.decode("utf-8").splitlines()[0].count(";") == len(HEADER) - 1
    (row,) = parse(response.body, ";")
    assert row["notes"] == "un; deux"


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_a_cell_that_would_run_as_a_formula_is_neutralised(
    client: FlaskClient, staff: Headers, start: str
) -> None:
    formula = f'{start}HYPERLINK("http://evil.example","x")'
    body = {"kind": "company", "company_name": formula, "notes": f"{start}1+2"}
    assert client.post("/customers", json=body, headers=staff).status_code == 201
    (row,) = parse(download(client, staff).body)
    assert row["company_name"] == "'" + formula
    assert row["notes"] == f"'{start}1+2"


def test_a_number_custom_field_below_zero_is_neutralised_too(
    client: FlaskClient, staff: Headers
) -> None:
    field = {"key": "balance", "label": "Balance", "type": "number"}
    client.post("/customers/fields", json=field, headers=staff)
    body = {"kind": "company", "company_name": "Acme", "custom_fields": {"balance": -12.5}}
    client.post("/customers", json=body, headers=staff)
    (row,) = parse(download(client, staff).body)
    assert row["balance"] == "'-12.5"


def test_the_list_parameters_and_segments_select_what_is_exported(
    client: FlaskClient, staff: Headers
) -> None:
    field = {"key": "vip", "label": "VIP", "type": "boolean"}
    client.post("/customers/fields", json=field, headers=staff)
    people: list[dict[str, Any]] = [
        {"last_name": "A", "address": {"city": "Paris"}, "custom_fields": {"vip": True}},
        {"last_name": "B", "address": {"city": "paris"}},
        {"last_name": "C", "address": {"city": "Lyon"}, "custom_fields": {"vip": True}},
    ]
    for person in people:
        client.post("/customers", json={"kind": "individual", **person}, headers=staff)

    def names(query: str) -> list[str]:
        response = download(client, staff, query)
        assert response.status_code == 200, response.get_json()
        return [row["last_name"] for row in parse(response.body)]

    assert names("?city=PARIS&sort=name") == ["A", "B"]
    assert names("?cf.vip=true&sort=-name") == ["C", "A"]
    segment = client.post(
        "/customers/segments", json={"name": "VIP", "filter": {"cf.vip": "oui"}}, headers=staff
    ).get_json()
    assert names(f"?segment={segment['id']}&city=lyon") == ["C"]


@pytest.mark.parametrize(
    ("query", "field"),
    [("?delimiter=|", "delimiter"), ("?cf.nope=1", "cf.nope"), ("?color=red", "color")],
)
def test_bad_parameters_are_a_422_before_anything_is_sent(
    client: FlaskClient, staff: Headers, query: str, field: str
) -> None:
    response = client.get(f"/customers/export.csv{query}", headers=staff)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["query"]


def test_exporting_needs_the_export_scope(
    client: FlaskClient, make_token: Callable[..., Headers]
) -> None:
    reader = make_token("customers:read", "customers:write", "customers:import")
    assert client.get("/customers/export.csv", headers=reader).status_code == 403
    assert client.get("/customers/export.csv").status_code == 401


def test_an_empty_base_exports_its_header(client: FlaskClient, staff: Headers) -> None:
    body = download(client, staff).body
    assert body == ("\ufeff" + ",".join(HEADER) + "\r\n").encode()
