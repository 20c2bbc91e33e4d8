"""Imports on SQLite, as the embedded mode runs them (a migrated file): the same rows, events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.customers.models import ConsentRecord, Customer, CustomerTag
from tests.integration.customers.imports.conftest import Headers, upload
from tests.integration.customers.imports.test_imports import GOOD_AND_BAD
from tests.integration.customers.tagging.test_sqlite import app, customers_settings

__all__ = ["app", "customers_settings"]  # fixtures: the customers app on a migrated SQLite file


def test_an_import_on_sqlite_writes_the_rows_their_tags_and_events(
    app: Flask,
    client: FlaskClient,
    importer: Headers,
    work: Callable[..., int],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    job_id = upload(client, importer, GOOD_AND_BAD).json["id"]
    consent = (
        "Nom,Email,Téléphone,email_consent,consent.source,consent.obtained_at\n"
        "Li,li@example.com,+33 6 11 22 33 44,oui,signed form,2026-01-02T10:00:00+00:00\n"
    ).encode()
    upload(client, importer, consent)
    assert work() == 2

    job = client.get(f"/customers/imports/{job_id}", headers=importer).json
    assert (job["status"], job["accepted"], job["rejected"]) == ("done", 2, 5)
    with app.extensions["crm"].session_factory() as session:
        emails = set(session.scalars(select(Customer.email)))
        links = session.scalar(select(func.count()).select_from(CustomerTag))
        li = session.scalar(select(Customer).where(Customer.email == "li@example.com"))
        records = session.scalars(select(ConsentRecord.channel)).all()
    assert emails == {"elodie@example.com", "paul@example.com", "li@example.com"}
    assert links == 3
    assert li is not None and li.email_consent and li.phones[0].number == "+33611223344"
    assert records == ["email"]
    assert len(outbox("customer.created")) == 3
    assert {e["data"]["reason"] for e in outbox("customer.tagged")} == {"import"}
    assert len(outbox("customer.tagged")) == 3
