"""What a row holds reaches the customer as written: the checked rows travel to the staging
table as COPY text made in the checking process (`imports.copy_text`), escapes and all."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.customers.imports import runner
from services.customers.models import Customer, CustomerTag
from tests.integration.customers.imports.conftest import CountingCatalogue, Headers, upload

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
    app: Flask,
    client: FlaskClient,
    importer: Headers,
    tags: CountingCatalogue,
    monkeypatch: pytest.MonkeyPatch,
    processes: int,
) -> None:
    monkeypatch.setattr(runner, "PROCESSES_ABOVE", 0)
    job_id = upload(client, importer, _csv()).json["id"]
    uow = app.extensions["crm"].uow
    assert runner.run_queued_imports(uow, 10, lambda: tags, "FR", processes=processes) == 1

    job = client.get(f"/customers/imports/{job_id}", headers=importer).json
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
