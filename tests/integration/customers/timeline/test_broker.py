"""Other systems' events through RabbitMQ and the customers worker: exact counts and sums."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.worker import Worker
from tests.backbone import wait_until
from tests.integration.customers.timeline.conftest import event, purchase

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]


def test_billing_support_and_scheduling_events_count_once_in_their_own_order(
    worker: Worker,
    publish_as: Callable[..., None],
    add_customer: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
    timeline: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = add_customer()
    c = str(customer)
    purchases = [
        purchase(customer, amount, time=f"2026-11-{day:02d}T09:00:00Z")
        for day, amount in ((5, "19.99"), (1, "0.01"), (3, "100.00"))
    ]
    dollars = purchase(customer, "5.50", "USD", time="2026-11-02T09:00:00Z")
    request = event("support.request.created", {"customer_id": c}, time="2026-11-04T00:00:00Z")
    visit = event(
        "scheduling.appointment.completed", {"customer_id": c}, time="2026-11-06T00:00:00Z"
    )
    marker = event("support.request.created", {"customer_id": c}, time="2026-10-01T00:00:00Z")

    publish_as("billing", purchases[0], purchases[1], purchases[1], dollars)  # a duplicate
    publish_as("support", request)
    publish_as("billing", purchases[2], purchases[0])  # late, and sent again
    publish_as("scheduling", visit)
    publish_as("billing", dollars)
    publish_as("support", marker)

    wait_until(lambda: any(e["event_id"] == marker.id for e in timeline(customer)))
    entries = timeline(customer)
    assert [e["event_id"] for e in entries] == [
        visit.id, purchases[0].id, request.id, purchases[2].id, dollars.id, purchases[1].id,
        marker.id,
    ]  # fmt: skip
    summary = client.get(f"/customers/{customer}/summary", headers=reader).get_json()
    assert summary["purchases_count"] == 4
    assert summary["revenue"] == {"EUR": "120.00", "USD": "5.50"}
    assert summary["support_requests_count"] == 2
    assert summary["last_action_type"] == "scheduling.appointment.completed"
    assert summary["last_action_at"] == "2026-11-06T00:00:00+00:00"


def test_a_batch_redelivered_after_its_commit_counts_once(
    worker: Worker,
    publish_as: Callable[..., None],
    add_customer: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The connection dies after the batch committed and before its ack: RabbitMQ delivers the
    batch again, and nothing counts twice."""
    assert worker.consumer is not None
    consumer = worker.consumer
    dispatcher = consumer.dispatcher
    real = dispatcher.dispatch_batch
    seen: list[list[bool]] = []

    def commit_then_lose_the_connection(events: Any) -> list[bool]:
        outcomes = real(events)
        seen.append(outcomes)
        if len(seen) == 1:
            consumer._live_connection.connection.transport.sock.shutdown(socket.SHUT_RDWR)
        return outcomes

    monkeypatch.setattr(dispatcher, "dispatch_batch", commit_then_lose_the_connection)
    customer = add_customer()
    sent = [purchase(customer, "10.00"), purchase(customer, "0.50"), purchase(customer, "2.25")]

    publish_as("billing", *sent)

    wait_until(lambda: any(not handled for outcomes in seen[1:] for handled in outcomes))
    summary = client.get(f"/customers/{customer}/summary", headers=reader).get_json()
    assert summary["purchases_count"] == 3 and summary["revenue"] == {"EUR": "12.75"}
