"""The delivery log and the customer projection written a batch a statement on PostgreSQL
(`bulk.unnest`): the same rows and the same guarantees as one statement a row."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from services.notifications import ledger
from services.notifications.handlers import delivery_row, project, record_rows
from services.notifications.models import CustomerContact
from shared.db import utcnow
from shared.events.envelope import make_event
from tests.integration.notifications.mailing import deliveries

pytestmark = [pytest.mark.needs_postgres]


def _contacts(app: Flask) -> dict[uuid.UUID, CustomerContact]:
    with app.extensions["crm"].session_factory() as session:
        return {c.customer_id: c for c in session.scalars(select(CustomerContact))}


def test_one_event_recorded_twice_in_one_batch_is_one_delivery(app: Flask) -> None:
    customer = uuid.uuid4()
    event = make_event("account.activated", {"customer_id": str(customer)}, "test")
    other = make_event("account.activated", {"customer_id": str(customer)}, "test")
    reason = {"reason": 'a "quoted", back\\slashed {brace} été 😀 line\nbreak'}
    with app.extensions["crm"].uow() as uow:
        rows = [delivery_row(uow, e, "registration.rejected", customer, reason)
                for e in (event, other, event)]  # fmt: skip
        record_rows(uow, rows)
        uow.commit()
    recorded = deliveries(app)
    assert sorted(r.event_id for r in recorded) == sorted([event.id, other.id])
    assert all(r.status == "pending" and r.attempts == 0 for r in recorded)
    assert {r.event_id: r.variables for r in recorded}[event.id] == {"event_time": event.time,
                                                                     **reason}  # fmt: skip
    assert {r.customer_id for r in recorded} == {customer}
    assert all(r.next_attempt_at == r.created_at for r in recorded)
    assert {r.message_id for r in recorded} == {rows[0]["message_id"], rows[1]["message_id"]}


def test_a_batch_of_contacts_never_overwrites_a_newer_one_nor_columns_it_lacks(app: Flask) -> None:
    now = utcnow()
    newer, older = uuid.uuid4(), uuid.uuid4()
    with app.extensions["crm"].uow() as uow:
        project(uow, [
            {"customer_id": newer, "as_of": now, "email": "new@example.com", "language": "fr"},
            {"customer_id": older, "as_of": now - timedelta(hours=1), "email": "a@example.com",
             "first_name": 'Ada "the" \\ Countess', "email_consent": True},
        ])  # fmt: skip
        uow.commit()
    with app.extensions["crm"].uow() as uow:
        project(uow, [
            {"customer_id": newer, "as_of": now - timedelta(minutes=1), "email": "old@example.com"},
            {"customer_id": older, "as_of": now, "deleted": True},
        ])  # fmt: skip
        uow.commit()
    contacts = _contacts(app)
    assert (contacts[newer].email, contacts[newer].language) == ("new@example.com", "fr")
    assert contacts[newer].as_of == now
    gone = contacts[older]
    assert (gone.deleted, gone.email, gone.first_name, gone.email_consent) == (
        True, "a@example.com", 'Ada "the" \\ Countess', True,
    )  # fmt: skip


def test_claiming_counts_an_attempt_and_closing_does_not(app: Flask) -> None:
    customers = [uuid.uuid4(), uuid.uuid4()]
    with app.extensions["crm"].uow() as uow:
        record_rows(uow, [
            delivery_row(uow, make_event("account.activated", {"customer_id": str(c)}, "test"),
                         "account.activated", c)
            for c in customers
        ])  # fmt: skip
        uow.commit()
    claimed, skipped = (r.id for r in deliveries(app))
    now = utcnow()
    with app.extensions["crm"].uow() as uow:
        ledger.apply(uow.session, [
            {"id": claimed, "updated_at": now, "consent": True, "status": ledger.CLAIMED,
             "recipients": ["a@example.com"], "locale": "fr", "fallback": "exact",
             "requested_language": "fr", "subject": "Bonjour"},
            {"id": skipped, "updated_at": now, "consent": None, "status": "skipped",
             "error": "the customer is deleted or unknown"},
        ])  # fmt: skip
        uow.commit()
    rows = {r.id: r for r in deliveries(app)}
    assert (rows[claimed].status, rows[claimed].attempts, rows[claimed].recipients) == (
        "sending", 1, ["a@example.com"],
    )  # fmt: skip
    assert (rows[claimed].subject, rows[claimed].locale) == ("Bonjour", "fr")
    assert (rows[skipped].status, rows[skipped].attempts, rows[skipped].consent) == (
        "skipped", 0, None,
    )  # fmt: skip
