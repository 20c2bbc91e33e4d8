"""A run of events in one statement on PostgreSQL (`batch_sql.record_run`): the JSON columns
(each entry's details, each parked event's body) travel as one JSON array each, and every
element must land on its own event's row, quotes and backslashes intact."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import select

from services.customers.models import ParkedEvent, TimelineEntry
from tests.integration.customers.timeline.conftest import purchase

pytestmark = pytest.mark.needs_postgres


def test_each_entry_and_parked_event_of_a_run_keeps_its_own_details_and_body(
    app: Flask, add_customer: Callable[..., uuid.UUID], deliver: Callable[..., None]
) -> None:
    known = add_customer()
    unknown = [uuid.uuid4() for _ in range(4)]
    events = [
        purchase(customer, f"{n}.00")
        for n, customer in enumerate([unknown[0], known, *unknown[1:]], start=1)
    ]
    # The reference the helper sets is replaced by one with characters arrays must escape.
    for n, e in enumerate(events, start=1):
        e.data["order_reference"] = f'O-{n} "quoted" \\ back {{brace}}, {n}'
    deliver(*events)  # one batch, one run

    by_id = {e.id: e for e in events}
    with app.extensions["crm"].session_factory() as session:
        entries = session.scalars(
            select(TimelineEntry).where(TimelineEntry.event_id.in_(list(by_id)))
        ).all()
        parked = session.scalars(
            select(ParkedEvent).where(ParkedEvent.event_id.in_(list(by_id)))
        ).all()
    assert len(entries) == len(events)
    for entry in entries:
        sent = by_id[entry.event_id]
        assert entry.details["order_reference"] == sent.data["order_reference"]
        assert entry.details["amount"] == sent.data["amount"]
    assert sorted(p.event_id for p in parked) == sorted(e.id for e in events if e.data[
        "customer_id"] != str(known))  # fmt: skip
    for row in parked:
        body = json.loads(row.body)
        assert body["id"] == row.event_id
        assert body["data"] == by_id[row.event_id].data
        assert uuid.UUID(body["data"]["customer_id"]) == row.customer_id
