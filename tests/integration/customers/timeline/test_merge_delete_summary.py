"""Merge carries the duplicate's timeline to the survivor, delete removes it; the summary."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.handlers import on_timeline_events
from services.customers.models import TimelineEntry
from shared.events.registry import parse_event
from tests.integration.customers.timeline.conftest import event, purchase

pytestmark = pytest.mark.needs_postgres

Timeline = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def deleter(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read", "customers:write", "customers:delete")


def entries_of(app: Flask, customer: uuid.UUID) -> int:
    with app.extensions["crm"].session_factory() as session:
        return session.query(TimelineEntry).filter_by(customer_id=customer).count()


def test_a_merge_moves_the_duplicates_timeline_to_the_survivor(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    client: FlaskClient,
    deleter: dict[str, str],
    timeline: Timeline,
) -> None:
    survivor, duplicate = add_customer(), add_customer()
    mine = purchase(survivor, "1.00", time="2026-11-01T00:00:00Z")
    theirs = purchase(duplicate, "2.00", time="2026-11-02T00:00:00Z")
    deliver(mine, theirs)
    note = client.post(
        f"/customers/{duplicate}/timeline", json={"title": "Met"}, headers=deleter
    ).get_json()

    merged = client.post(
        f"/customers/{survivor}/merge", json={"duplicate_id": str(duplicate)}, headers=deleter
    )

    assert merged.status_code == 200, merged.get_json()
    shown = [e.get("event_id") or e["id"] for e in timeline(survivor)]
    assert shown == [note["id"], theirs.id, mine.id]
    assert entries_of(app, duplicate) == 0
    summary = client.get(f"/customers/{survivor}/summary", headers=deleter).get_json()
    assert summary["purchases_count"] == 2 and summary["revenue"] == {"EUR": "3.00"}


def test_deleting_a_customer_deletes_its_timeline_only(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    client: FlaskClient,
    deleter: dict[str, str],
) -> None:
    doomed, kept = add_customer(), add_customer()
    deliver(purchase(doomed, "1.00"), purchase(kept, "1.00"))
    client.post(f"/customers/{doomed}/timeline", json={"title": "x"}, headers=deleter)

    assert client.delete(f"/customers/{doomed}", headers=deleter).status_code == 204

    assert entries_of(app, doomed) == 0
    assert entries_of(app, kept) == 1


def test_a_bulk_delete_deletes_the_timelines(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    client: FlaskClient,
    deleter: dict[str, str],
) -> None:
    doomed = [add_customer(), add_customer()]
    deliver(*(purchase(customer, "1.00") for customer in doomed))

    answer = client.post(
        "/customers/bulk",
        json={"action": "delete", "ids": [str(c) for c in doomed]},
        headers=deleter,
    )

    assert answer.status_code == 200, answer.get_json()
    assert [entries_of(app, customer) for customer in doomed] == [0, 0]


def test_the_summary_counts_each_event_once_in_exact_decimals_per_currency(
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    customer = add_customer()
    empty = client.get(f"/customers/{customer}/summary", headers=reader).get_json()
    assert empty == {
        "purchases_count": 0, "revenue": {}, "invoices_count": 0,
        "support_requests_count": 0, "last_action_at": None, "last_action_type": None,
        "push_devices_count": 0,
    }  # fmt: skip
    tenths = [purchase(customer, "0.10", time="2026-11-01T00:00:00Z") for _ in range(3)]
    latest = event(
        "support.request.created", {"customer_id": str(customer)}, time="2026-11-05T00:00:00Z"
    )
    older = purchase(customer, "1234567890.0001", "USD", time="2026-11-02T00:00:00Z")
    invoice = event(
        "billing.invoice.issued",
        {"customer_id": str(customer), "amount": "99.00", "currency": "EUR", "invoice_number": "F"},
        time="2026-11-03T00:00:00Z",
    )

    deliver(*tenths, tenths[0])
    deliver(latest)
    deliver(older, invoice, older)  # after the latest: out of order, and again

    summary = client.get(f"/customers/{customer}/summary", headers=reader).get_json()
    assert summary == {
        "purchases_count": 4,
        "revenue": {"EUR": "0.30", "USD": "1234567890.0001"},
        "invoices_count": 1,
        "support_requests_count": 1,
        "last_action_at": "2026-11-05T00:00:00+00:00",
        "last_action_type": "support.request.created",
        "push_devices_count": 0,
    }


def test_the_summary_counts_only_new_entries_even_without_the_inbox(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    """A batch straight to the handler twice (as if the inbox were purged), the same purchase
    twice inside it, an older one after a newer one: each counts once, the newest is last."""
    customer = add_customer()
    newest = purchase(customer, "2.00", time="2026-11-03T00:00:00Z")
    older = purchase(customer, "1.00", "USD", time="2026-11-01T00:00:00Z")
    batch = [parse_event(json.loads(e.to_json())) for e in (newest, newest, older)]
    for _ in range(2):
        with app.extensions["crm"].uow() as uow:
            on_timeline_events.handle(batch, uow)
            uow.commit()

    summary = client.get(f"/customers/{customer}/summary", headers=reader).get_json()
    assert summary["purchases_count"] == 2
    assert summary["revenue"] == {"EUR": "2.00", "USD": "1.00"}
    assert summary["last_action_at"] == "2026-11-03T00:00:00+00:00"


def test_push_devices_count_the_latest_event_of_each_device(
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    customer = add_customer()
    c = str(customer)

    def device(type: str, device_id: str, time: str) -> Any:
        data = {"customer_id": c, "device_id": device_id}
        if type == "device.push_registered":
            data["platform"] = "ios"
        return event(type, data, time=time, source="registration")

    deliver(
        device("device.push_registered", "phone", "2026-11-01T00:00:00Z"),
        device("device.push_registered", "tablet", "2026-11-01T00:00:00Z"),
        device("device.push_revoked", "tablet", "2026-11-02T00:00:00Z"),
    )
    deliver(device("device.push_registered", "tablet", "2026-11-01T12:00:00Z"))  # late, older

    summary = client.get(f"/customers/{customer}/summary", headers=reader).get_json()
    assert summary["push_devices_count"] == 1
