"""Fixtures of the timeline tests: customers, events through the real handlers or RabbitMQ."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.handlers import SUBSCRIPTIONS
from services.customers.models import Customer
from services.customers.worker import build_worker
from shared.events.consumer import EventDispatcher
from shared.events.envelope import CloudEvent
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection
from shared.events.registry import parse_event
from shared.settings import Settings
from shared.worker import Worker

SOURCES = {"billing": "billing", "scheduling": "scheduling", "support": "support"}


def event(
    type: str,
    data: dict[str, Any],
    time: str = "2026-11-01T10:00:00Z",
    source: str | None = None,
    id: str | None = None,
) -> CloudEvent:
    """An event of `type` at `time` (its own time), from its type's system by default."""
    return CloudEvent(
        id=id or str(uuid.uuid4()),
        type=type,
        source=source or type.split(".")[0],
        time=time,
        data=data,
        subject=str(data.get("customer_id")),
    )


def purchase(customer: uuid.UUID, amount: str, currency: str = "EUR", **kw: Any) -> CloudEvent:
    data = {
        "customer_id": str(customer),
        "amount": amount,
        "currency": currency,
        "order_reference": f"O-{uuid.uuid4().hex[:6]}",
    }
    return event("billing.purchase.completed", data, **kw)


@pytest.fixture
def add_customer(app: Flask) -> Callable[..., uuid.UUID]:
    """Puts a customer in the database (columns as keywords); its id."""

    def _add(**columns: Any) -> uuid.UUID:
        columns.setdefault("id", uuid.uuid4())
        columns.setdefault("kind", "individual")
        columns.setdefault("first_name", "Jeanne")
        columns.setdefault("last_name", "Martin")
        columns.setdefault("language", "fr")
        customer = Customer(**columns)
        with app.extensions["crm"].session_factory() as session:
            session.add(customer)
            session.commit()
        return customer.id

    return _add


@pytest.fixture
def deliver(app: Flask) -> Callable[..., None]:
    """Hands events to the customers handlers as the consumer does: one batch, inbox first."""
    dispatcher = EventDispatcher("customers", SUBSCRIPTIONS, app.extensions["crm"].uow)

    def _deliver(*events: CloudEvent) -> None:
        dispatcher.dispatch_batch([parse_event(json.loads(e.to_json())) for e in events])

    return _deliver


@pytest.fixture
def timeline(client: FlaskClient, reader: dict[str, str]) -> Callable[..., list[dict[str, Any]]]:
    """Every entry of a customer's timeline as the API answers it (all pages), newest first."""

    def _read(customer: uuid.UUID, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {**params, **({"cursor": cursor} if cursor else {})}
            response = client.get(
                f"/customers/{customer}/timeline", query_string=query, headers=reader
            )
            assert response.status_code == 200, response.get_json()
            page = response.get_json()
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                return items

    return _read


@pytest.fixture
def worker(customers_settings: Settings, broker_urls: Callable[[str], str]) -> Iterator[Worker]:
    """The customers worker consuming from the test broker, as the customers broker user."""
    settings = dataclasses.replace(customers_settings, broker_url=broker_urls("customers"))
    running = build_worker(settings).start()
    assert running.consumer is not None and running.consumer.ready.wait(15)
    yield running
    running.stop()


@pytest.fixture
def publish_as(broker_urls: Callable[[str], str]) -> Iterator[Callable[..., None]]:
    """`publish_as("billing", *events)`: publishes as that system does (its broker user)."""
    publishers: dict[str, EventPublisher] = {}

    def _publish(system: str, *events: CloudEvent) -> None:
        if system not in publishers:
            publishers[system] = EventPublisher(
                make_connection(broker_urls(system)), identity=system
            )
        publishers[system].publish_batch(
            [OutgoingMessage(routing_key=e.type, body=e.to_json(), message_id=e.id) for e in events]
        )

    yield _publish
    for publisher in publishers.values():
        publisher.close()
