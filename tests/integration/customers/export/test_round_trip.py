"""An export imported again (POST /customers/imports) gives the same customers back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.customers.export.conftest import Headers, download
from tests.integration.customers.imports.conftest import upload

pytestmark = pytest.mark.needs_postgres

# What a CSV carries both ways (the export has more: ids, dates, login, billing address...).
PEOPLE: list[dict[str, Any]] = [
    {
        "kind": "individual",
        "first_name": "Élodie",
        "last_name": "Dupré",
        "email": "elodie@example.com",
        "website": "https://elodie.example.com",
        "birth_date": "1990-04-01",
        "gender": "female",
        "language": "fr_BE",
        "address": {"street": "1 rue de la Paix", "postal_code": "75002", "city": "Paris",
                    "region": "IDF", "country": "FR"},
        "phones": [{"number": "+33612345678"}, {"number": "+33698765432"}],
        "newsletter_lists": ["promos", "weekly"],
        "billing": {"legal_name": "Dupré SARL", "vat_number": "FR40303265045",
                    "fiscal_code": "X1"},
        "is_supplier": True,
        "status": "vip",
        "source": {"channel": "fair", "campaign": "spring", "utm_source": "newsletter",
                   "utm_medium": "email", "utm_campaign": "may"},
        "notes": "=1+2 is not a formula here",
        "discount_percent": "12.50",
    },
    {"kind": "company", "company_name": "@Acme; \"quoted\", inc.", "email": "acme@example.com",
     "phones": [{"number": "+3225551234"}], "language": "en"},
    {"kind": "individual", "last_name": "Nobody"},
]  # fmt: skip
COMPARED = ("kind", "first_name", "last_name", "company_name", "email", "website", "birth_date",
            "gender", "language", "address", "newsletter_lists", "billing", "is_supplier",
            "status", "source", "notes", "discount_percent", "custom_fields")  # fmt: skip


def _essentials(customer: dict[str, Any]) -> dict[str, Any]:
    kept = {name: customer[name] for name in COMPARED}
    kept["phones"] = [phone["number"] for phone in customer["phones"]]
    kept["tags"] = sorted(tag["name"] for tag in customer["tags"])
    kept["source"] = {**customer["source"], "device": None}
    return kept


def _everyone(client: FlaskClient, staff: Headers) -> dict[str | None, dict[str, Any]]:
    items = client.get("/customers?limit=500", headers=staff).get_json()["items"]
    return {item["email"] or item["last_name"]: _essentials(item) for item in items}


def _export_delete_import(
    client: FlaskClient, staff: Headers, work: Callable[..., int], query: str = ""
) -> dict[str | None, dict[str, Any]]:
    before = _everyone(client, staff)
    exported = download(client, staff, query).body
    for item in client.get("/customers?limit=500", headers=staff).get_json()["items"]:
        assert client.delete(f"/customers/{item['id']}", headers=staff).status_code == 204
    answer = upload(client, staff, exported)
    assert answer.status_code == 202, answer.get_json()
    work(chunk_size=100)
    job = client.get(f"/customers/imports/{answer.get_json()['id']}", headers=staff).get_json()
    assert (job["status"], job["rejected"], job["errors"]) == ("done", 0, [])
    after = _everyone(client, staff)
    assert after == before
    return after


@pytest.mark.parametrize("delimiter", ["", "?delimiter=;", "?delimiter=tab"])
def test_an_export_imported_again_gives_the_same_customers_back(
    client: FlaskClient, staff: Headers, work: Callable[..., int], delimiter: str
) -> None:
    for person in PEOPLE:
        created = client.post("/customers", json=person, headers=staff)
        assert created.status_code == 201, created.get_json()
        customer_id = created.get_json()["id"]
        for name in ("VIP", "Lyon Rhône") if person.get("email") else ():
            tagged = client.post(
                f"/customers/{customer_id}/tags", json={"name": name}, headers=staff
            )
            assert tagged.status_code in (200, 201), tagged.get_json()
    after = _export_delete_import(client, staff, work, delimiter)
    assert after["elodie@example.com"]["tags"] == ["Lyon Rhône", "VIP"]


def test_custom_fields_of_every_type_survive_an_export_and_an_import(
    client: FlaskClient, staff: Headers, work: Callable[..., int]
) -> None:
    fields = [
        {"key": "motto", "type": "text"},
        {"key": "balance", "type": "number"},
        {"key": "since", "type": "date"},
        {"key": "vip", "type": "boolean"},
        {"key": "level", "type": "choice", "options": ["silver", "gold"]},
    ]
    for field in fields:
        body = {"label": field["key"].title(), **field}
        assert client.post("/customers/fields", json=body, headers=staff).status_code == 201
    values = [
        {"motto": "-carpe diem", "balance": -12.5, "since": "2024-05-31", "vip": True,
         "level": "gold"},
        {"balance": 3, "vip": False},
        {},
    ]  # fmt: skip
    for index, custom in enumerate(values):
        body = {"kind": "individual", "last_name": f"P{index}", "custom_fields": custom}
        assert client.post("/customers", json=body, headers=staff).status_code == 201
    after = _export_delete_import(client, staff, work)
    assert [after[f"P{index}"]["custom_fields"] for index in range(3)] == values
