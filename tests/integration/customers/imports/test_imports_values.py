"""What a row holds reaches the customer as written (the checked rows travel to the staging
table as COPY text made in the checking process, `imports.copy_text`, escapes and all), and
as `POST /customers` would take it: consent and its records, custom fields by their key."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.customers.models import ConsentRecord, Customer, CustomerTag
from tests.integration.customers.imports.conftest import Headers, stored_customers

pytestmark = pytest.mark.needs_postgres

NOTES = "C:\\new\\table\tand a tab\nline two\r\nline three\n\\.\n\\N é€ 🙂"
ROWS = [
    {
        "first_name": "Back\\slash",
        "last_name": "O'Brien \\N",
        "email": "back.slash@example.com",
        "notes": NOTES,
        "discount_percent": "12.5",
        "birth_date": "1990-02-28",
        "phones": "+33 6 12 34 56 78|+33 6 12 34 56 79",
        "newsletter_lists": "weekly|mensuel",
        "tags": "VIP",
    },
    {"first_name": "Plain", "last_name": "Row", "email": "plain@example.com", "notes": ""},
]


def _csv() -> bytes:
    text = io.StringIO()
    writer = csv.DictWriter(text, list(ROWS[0]))
    writer.writeheader()
    writer.writerows(ROWS)
    return text.getvalue().encode()


@pytest.mark.parametrize("processes", [0, 2])
def test_every_value_of_a_row_reaches_the_customer_as_written(
    app: Flask, run_import: Callable[..., dict[str, Any]], processes: int
) -> None:
    job = run_import(_csv(), chunk_size=10, processes=processes)
    assert (job["status"], job["accepted"], job["rejected"]) == ("done", 2, 0), job
    with app.extensions["crm"].session_factory() as session:
        rows = {c.email: c for c in session.scalars(select(Customer))}
        odd = rows["back.slash@example.com"]
        assert (odd.first_name, odd.last_name) == ("Back\\slash", "O'Brien \\N")
        assert odd.notes == NOTES
        assert odd.discount_percent == Decimal("12.50")
        assert str(odd.birth_date) == "1990-02-28"
        assert [phone.number for phone in odd.phones] == ["+33612345678", "+33612345679"]
        assert sorted(item.list_name for item in odd.newsletter_lists) == ["mensuel", "weekly"]
        tagged = session.scalars(select(CustomerTag.customer_id)).all()
        assert tagged == [odd.id]
        assert odd.search_text and "back\\slash" in odd.search_text
        plain = rows["plain@example.com"]
        assert (plain.notes, plain.shipping_addresses, plain.custom_fields) == (None, [], {})


def test_a_row_that_records_consent_switches_its_channels_on_with_their_records(
    app: Flask, run_import: Callable[..., dict[str, Any]]
) -> None:
    data = (
        "Nom,Email,Téléphone,email_consent,newsletter_lists,consent.source,consent.obtained_at\n"
        "Li,li@example.com,+33 6 11 22 33 44,oui,news|offers,signed form,2026-01-02T10:00:00Z\n"
        "Mo,mo@example.com,,oui,,,\n"
    ).encode()
    job = run_import(data)
    assert (job["accepted"], job["rejected"]) == (2, 0)
    li, mo = stored_customers(app)
    assert li.email_consent and li.phones[0].number == "+33611223344"
    # No consent record on its row: every channel off, as POST /customers does.
    assert not mo.email_consent
    assert sorted(s.list_name for s in li.newsletter_lists) == ["news", "offers"]
    with app.extensions["crm"].session_factory() as session:
        records = session.execute(select(ConsentRecord.channel, ConsentRecord.source)).all()
    assert [tuple(r) for r in records] == [("email", "signed form")]


def test_custom_fields_are_columns_headed_by_their_key_validated_by_their_definitions(
    app: Flask,
    client: FlaskClient,
    run_import: Callable[..., dict[str, Any]],
    make_token: Callable[..., Headers],
) -> None:
    admin = make_token("customers:read", "settings:write")
    for body in (
        {"key": "loyalty", "label": "Fidélité", "type": "choice", "options": ["silver", "gold"]},
        {"key": "visits", "label": "Visites", "type": "number"},
        {"key": "vip_since", "label": "VIP depuis", "type": "date"},
    ):
        assert client.post("/customers/fields", json=body, headers=admin).status_code == 201
    data = (
        b"Nom;Email;Loyalty;visits;vip_since\n"
        b"Li;li@example.com;gold;12;2024-03-01\n"
        b"Mo;mo@example.com;bronze;3;\n"  # not an option
        b"Bo;bo@example.com;;many;\n"  # not a number
        b"Al;al@example.com;;;\n"
    )
    job = run_import(data)
    assert (job["accepted"], job["rejected"]) == (2, 2)
    assert {(e["row"], e["field"]) for e in job["errors"]} == {
        (2, "custom_fields.loyalty"),
        (3, "custom_fields.visits"),
    }
    values = {c.last_name: c.custom_fields for c in stored_customers(app)}
    assert values == {
        "Li": {"loyalty": "gold", "visits": 12, "vip_since": "2024-03-01"},
        "Al": {},
    }
