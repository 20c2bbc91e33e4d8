"""Events for a customer not known yet, through RabbitMQ and the customers worker: kept aside,
applied when the customer appears within the window, else dead-lettered with the reason."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.customers.models import CustomerSummary, ParkedEvent, TimelineEntry
from services.customers.timeline.config import TimelineConfig
from services.customers.timeline.parking import UNKNOWN_CUSTOMER
from services.customers.worker import build_worker
from shared.settings import Settings
from shared.worker import Worker
from tests.backbone import queue_messages, wait_until
from tests.integration.customers.timeline.conftest import event, purchase

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]

DEAD = "customers.events.dead"


@pytest.fixture
def start_worker(
    customers_settings: Settings, broker_urls: Callable[[str], str], amqp_url: str
) -> Iterator[Callable[[timedelta], Worker]]:
    """Starts the customers worker with a parking window of the test's choosing."""
    started: list[Worker] = []

    def _start(window: timedelta) -> Worker:
        settings = dataclasses.replace(customers_settings, broker_url=broker_urls("customers"))
        worker = build_worker(settings, TimelineConfig(parking_window=window)).start()
        assert worker.consumer is not None and worker.consumer.ready.wait(15)
        started.append(worker)
        queue_messages(amqp_url, DEAD)  # what an earlier test left there
        return worker

    yield _start
    for worker in started:
        worker.stop()


def count(app: Flask, model: Any, customer: uuid.UUID) -> int:
    with app.extensions["crm"].session_factory() as session:
        return int(
            session.scalar(
                select(func.count()).select_from(model).where(model.customer_id == customer)
            )
            or 0
        )


def test_an_event_for_a_customer_not_known_yet_waits_and_applies_when_it_appears(
    app: Flask,
    start_worker: Callable[[timedelta], Worker],
    publish_as: Callable[..., None],
    add_customer: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
    timeline: Callable[..., list[dict[str, Any]]],
    amqp_url: str,
) -> None:
    start_worker(timedelta(seconds=30))
    coming, known = uuid.uuid4(), add_customer()
    early = purchase(coming, "12.50", time="2026-11-02T00:00:00Z")
    request = event("support.request.created", {"customer_id": str(coming)})

    publish_as("billing", early)
    publish_as("support", request)
    publish_as("billing", purchase(known, "1.00"))  # consuming goes on

    wait_until(lambda: count(app, TimelineEntry, known) == 1)
    assert count(app, ParkedEvent, coming) == 2
    assert client.get(f"/customers/{coming}/timeline", headers=reader).status_code == 404

    add_customer(id=coming)

    wait_until(lambda: count(app, ParkedEvent, coming) == 0)  # settled: applied
    assert [e["event_id"] for e in timeline(coming)] == [early.id, request.id]
    summary = client.get(f"/customers/{coming}/summary", headers=reader).get_json()
    assert summary["purchases_count"] == 1 and summary["revenue"] == {"EUR": "12.50"}
    assert summary["support_requests_count"] == 1
    assert queue_messages(amqp_url, DEAD) == []


def test_past_the_window_the_events_are_dead_lettered_with_the_reason_and_forgotten(
    app: Flask,
    start_worker: Callable[[timedelta], Worker],
    publish_as: Callable[..., None],
    add_customer: Callable[..., uuid.UUID],
    timeline: Callable[..., list[dict[str, Any]]],
    amqp_url: str,
) -> None:
    start_worker(timedelta(seconds=1))
    never = uuid.uuid4()
    lost = [purchase(never, "3.00"), purchase(never, "4.00", currency="USD")]

    publish_as("billing", *lost)

    letters: list[Any] = []
    wait_until(lambda: letters.extend(queue_messages(amqp_url, DEAD)) or len(letters) >= 2)
    assert sorted(json.loads(m.body)["id"] for m in letters) == sorted(e.id for e in lost)
    for letter in letters:
        assert letter.headers["x-crm-dead-kind"] == UNKNOWN_CUSTOMER
        assert f"customer {never} unknown" in letter.headers["x-crm-dead-reason"]
        assert letter.headers["x-crm-original-routing-key"] == "billing.purchase.completed"
    # Published, then forgotten in the transaction the broker's confirms let commit.
    wait_until(
        lambda: (
            [count(app, m, never) for m in (ParkedEvent, TimelineEntry, CustomerSummary)]
            == [0, 0, 0]
        )
    )

    add_customer(id=never)  # too late: the events are in the dead letters, not on its timeline
    assert timeline(never) == []
