"""Entries from the suite's events and other systems': once per event, by the event's own time,
titled in the customer's language."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from services.customers.handlers import on_timeline_events
from services.customers.models import TimelineEntry
from services.customers.timeline.entries import TIMELINE_TYPES
from shared.events.registry import parse_event
from tests.integration.customers.timeline.conftest import event, purchase

pytestmark = pytest.mark.needs_postgres

Timeline = Callable[..., list[dict[str, Any]]]


def sample_events(customer: uuid.UUID) -> list[Any]:
    """One event of every type the timeline takes, an hour apart."""
    c = str(customer)
    contact = {"email": None, "language": "fr", "first_name": "J", "last_name": "M"}
    datas: dict[str, dict[str, Any]] = {
        "customer.created": {"customer_id": c, "kind": "individual", "status": "lead",
                             "customer": contact},
        "customer.tagged": {"customer_id": c, "tag_id": str(uuid.uuid4()), "tag_name": "VIP",
                            "reason": "manual"},
        "customer.untagged": {"customer_id": c, "tag_id": str(uuid.uuid4()), "tag_name": "Old",
                              "reason": "manual"},
        "customer.status_changed": {"customer_id": c, "from": "lead", "to": "active",
                                    "reason": "rule:first-payment"},
        "customer.merged": {"customer_id": c, "duplicate_id": str(uuid.uuid4())},
        "registration.submitted": {"customer_id": c, "email": "j@example.com",
                                   "kind": "individual", "status": "active",
                                   "signup_notification": False},
        "registration.approved": {"customer_id": c},
        "registration.rejected": {"customer_id": c},
        "account.activated": {"customer_id": c},
        "device.confirmed": {"customer_id": c, "device_id": "d1"},
        "account.impersonated": {"customer_id": c, "actor": "staff-7", "reason": "help",
                                 "expires_at": "2026-11-01T11:00:00Z"},
        "notification.sent": {"delivery_id": str(uuid.uuid4()), "customer_id": c,
                              "key": "k", "event_id": "e", "message_id": "m",
                              "subject": "Bienvenue", "locale": "fr",
                              "sent_at": "2026-11-01T10:00:00Z"},
        "billing.purchase.completed": {"customer_id": c, "amount": "12.50", "currency": "EUR",
                                       "order_reference": "A-1"},
        "billing.invoice.issued": {"customer_id": c, "amount": "12.50", "currency": "EUR",
                                   "invoice_number": "F-1"},
        "billing.payment.recorded": {"customer_id": c, "amount": "12.50", "currency": "EUR"},
        "scheduling.appointment.completed": {"customer_id": c, "title": "Yoga"},
        "support.request.created": {"customer_id": c, "title": "Colis perdu"},
        "marketing.email.opened": {"customer_id": c, "campaign": "Noël"},
        "marketing.email.clicked": {"customer_id": c, "campaign": "Noël"},
    }  # fmt: skip
    assert set(datas) == set(TIMELINE_TYPES)
    sources = {"customer": "customers", "registration": "registration", "account": "registration",
               "device": "registration", "notification": "notifications"}  # fmt: skip
    return [
        event(t, data, time=f"2026-11-01T{n:02d}:00:00Z", source=sources.get(t.split(".")[0]))
        for n, (t, data) in enumerate(datas.items())
    ]


def test_every_event_type_makes_one_entry_titled_in_the_customers_language(
    add_customer: Callable[..., uuid.UUID], deliver: Callable[..., None], timeline: Timeline
) -> None:
    french, english = add_customer(language="fr-CA"), add_customer(language="en")
    for customer in (french, english):
        deliver(*sample_events(customer))

    fr, en = timeline(french), timeline(english)

    assert [e["type"] for e in fr] == list(reversed(TIMELINE_TYPES))
    titles = {e["type"]: e["title"] for e in fr}
    assert titles["billing.purchase.completed"] == "Achat A-1 : 12.50 EUR"
    assert titles["customer.status_changed"] == (
        "Statut changé de lead à active (rule:first-payment)"
    )
    assert titles["support.request.created"] == "Demande d'assistance ouverte : Colis perdu"
    english_titles = {e["type"]: e["title"] for e in en}
    assert english_titles["billing.purchase.completed"] == "Purchase A-1: 12.50 EUR"
    assert english_titles["marketing.email.clicked"] == "Clicked the email of campaign Noël"
    assert all(e["title"] and e["title"] != e["type"] for e in fr + en)
    impersonated = next(e for e in fr if e["type"] == "account.impersonated")
    assert impersonated["actor"] == "staff-7"
    assert all(e["event_id"] for e in fr) and all(e["note"] is None for e in fr)


def test_an_event_delivered_again_or_resent_with_its_id_makes_one_entry(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    timeline: Timeline,
) -> None:
    customer = add_customer()
    first = purchase(customer, "10.00")

    deliver(first)
    deliver(first)
    deliver(first, first)  # twice in one batch
    resent = event(first.type, first.data, time="2026-11-02T00:00:00Z", id=first.id)
    deliver(resent)

    assert [e["event_id"] for e in timeline(customer)] == [first.id]


def test_the_unique_key_holds_even_without_the_inbox(
    app: Flask, add_customer: Callable[..., uuid.UUID]
) -> None:
    """Twice the same event straight to the handler (as if the inbox were purged): one entry."""
    customer = add_customer()
    once = parse_event(json.loads(purchase(customer, "1.00").to_json()))
    for _ in range(2):
        with app.extensions["crm"].uow() as uow:
            on_timeline_events(once, uow)
            uow.commit()

    with app.extensions["crm"].session_factory() as session:
        assert session.query(TimelineEntry).filter_by(customer_id=customer).count() == 1


def test_entries_are_ordered_by_the_events_own_time_not_their_arrival(
    add_customer: Callable[..., uuid.UUID], deliver: Callable[..., None], timeline: Timeline
) -> None:
    customer = add_customer()
    late = purchase(customer, "3.00", time="2026-11-03T00:00:00Z")
    early = purchase(customer, "1.00", time="2026-11-01T00:00:00Z")
    middle = purchase(customer, "2.00", time="2026-11-02T00:00:00+01:00")

    deliver(late)
    deliver(early, middle)

    entries = timeline(customer)
    assert [e["event_id"] for e in entries] == [late.id, middle.id, early.id]
    assert entries[1]["occurred_at"] == "2026-11-01T23:00:00+00:00"


def test_an_event_for_a_customer_not_known_yet_is_kept_and_shows_once_it_exists(
    add_customer: Callable[..., uuid.UUID], deliver: Callable[..., None], timeline: Timeline
) -> None:
    coming = uuid.uuid4()
    early = purchase(coming, "5.00")

    deliver(early)
    add_customer(id=coming)

    assert [e["event_id"] for e in timeline(coming)] == [early.id]


def test_a_notification_for_the_admins_names_no_customer_and_makes_no_entry(
    app: Flask, deliver: Callable[..., None]
) -> None:
    data = {"delivery_id": str(uuid.uuid4()), "customer_id": None, "key": "k",
            "event_id": "e", "message_id": "m", "subject": "s", "locale": "en",
            "sent_at": "2026-11-01T10:00:00Z"}  # fmt: skip

    deliver(event("notification.sent", data, source="notifications"))

    with app.extensions["crm"].session_factory() as session:
        assert session.query(TimelineEntry).count() == 0


def test_customer_deleted_takes_what_reached_the_timeline_after_the_deletion(
    app: Flask, add_customer: Callable[..., uuid.UUID], deliver: Callable[..., None]
) -> None:
    gone, kept = uuid.uuid4(), add_customer()
    deliver(purchase(gone, "1.00"), purchase(kept, "1.00"))

    deliver(
        event("customer.deleted", {"customer_id": str(gone), "tag_ids": []}, source="customers")
    )

    with app.extensions["crm"].session_factory() as session:
        assert session.query(TimelineEntry).filter_by(customer_id=gone).count() == 0
        assert session.query(TimelineEntry).filter_by(customer_id=kept).count() == 1
