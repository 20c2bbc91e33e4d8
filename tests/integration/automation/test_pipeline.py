"""The whole pipeline over the real RabbitMQ and PostgreSQL: an external event published by
billing reaches automation, whose `automation.action_requested` reaches customers, which changes
the status (`reason: rule:<id>`); a manual change made after the event wins; an invalid external
event is dead-lettered without stopping the consumer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from services.automation.models import CustomerFacts
from services.customers.models import Customer
from shared.db import OutboxMessage, utcnow
from shared.events.envelope import make_event
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection
from shared.suite import build_worker
from shared.worker import Worker
from tests.backbone import queue_messages, wait_until
from tests.integration.automation.conftest import FIRST_RULES, customer_in

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]


@pytest.fixture
def workers(
    app: Flask, customers_app: Flask, broker_urls: Callable[[str], str]
) -> Iterator[list[Worker]]:
    """The customers and automation workers (consumers, relays) on the test virtual host."""
    running = []
    for flask_app, name in ((customers_app, "customers"), (app, "automation")):
        settings = flask_app.extensions["crm"].settings
        settings = settings.__class__(**{**settings.__dict__, "broker_url": broker_urls(name)})
        worker = build_worker(settings).start()
        assert worker.consumer is not None and worker.consumer.ready.wait(15)
        running.append(worker)
    yield running
    for worker in running:
        worker.stop()


@pytest.fixture
def billing(broker_urls: Callable[[str], str]) -> Iterator[Callable[..., None]]:
    """Publishes as the billing system does (its own broker user)."""
    publisher = EventPublisher(make_connection(broker_urls("billing")), identity="billing")

    def _publish(body: str, routing_key: str, message_id: str) -> None:
        publisher.publish_batch(
            [OutgoingMessage(routing_key=routing_key, body=body, message_id=message_id)]
        )

    yield _publish
    publisher.close()


def status_of(customers_app: Flask, customer_id: uuid.UUID) -> str:
    with customers_app.extensions["crm"].session_factory() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer.status


def facts_known(app: Flask, customer_id: uuid.UUID) -> bool:
    with app.extensions["crm"].session_factory() as session:
        facts = session.get(CustomerFacts, customer_id)
        return facts is not None and facts.known


def status_events(customers_app: Flask, customer_id: uuid.UUID) -> list[str]:
    import json

    with customers_app.extensions["crm"].session_factory() as session:
        rows = session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.type == "customer.status_changed",
                OutboxMessage.subject == str(customer_id),
            )
        ).all()
    return [json.loads(row)["data"]["reason"] for row in rows]


def payment(customer_id: uuid.UUID, currency: str = "EUR", **envelope: Any) -> Any:
    event = make_event(
        "billing.payment.recorded",
        {"customer_id": str(customer_id), "amount": "10.00", "currency": currency},
        source="billing",
    )
    body = {**event.to_dict(), **envelope}
    import json

    return json.dumps(body), body["id"]


def test_a_first_payment_published_by_billing_makes_the_customer_active(
    app: Flask,
    customers_app: Flask,
    workers: list[Worker],
    billing: Callable[..., None],
    writer: dict[str, str],
    amqp_url: str,
) -> None:
    customer = customer_in(customers_app, writer)
    wait_until(lambda: facts_known(app, customer))
    invalid, invalid_id = payment(customer, currency="euros")
    body, event_id = payment(customer)

    billing(invalid, "billing.payment.recorded", invalid_id)
    billing(body, "billing.payment.recorded", event_id)
    billing(body, "billing.payment.recorded", event_id)  # redelivered: no second effect

    wait_until(lambda: status_of(customers_app, customer) == "active")
    assert status_events(customers_app, customer) == ["rule:first-payment"]
    [dead] = wait_until(lambda: queue_messages(amqp_url, "automation.events.dead"))
    assert "currency" in dead.headers["x-crm-dead-reason"]


def test_a_manual_change_after_the_event_wins_over_the_rule(
    app: Flask,
    customers_app: Flask,
    workers: list[Worker],
    billing: Callable[..., None],
    writer: dict[str, str],
) -> None:
    customer = customer_in(customers_app, writer)
    wait_until(lambda: facts_known(app, customer))
    # The payment happened an hour ago; staff moved the customer to prospect since.
    body, event_id = payment(customer, time=(utcnow() - timedelta(hours=1)).isoformat())
    client = customers_app.test_client()
    response = client.patch(f"/customers/{customer}", json={"status": "prospect"}, headers=writer)
    assert response.status_code == 200, response.get_json()

    billing(body, "billing.payment.recorded", event_id)

    # The rule fired (the facts say prospect, a first payment) but customers kept prospect.
    wait_until(lambda: _fired(app, customer))
    wait_until(lambda: _actions_handled(customers_app) == 1)
    assert status_of(customers_app, customer) == "prospect"
    assert status_events(customers_app, customer) == ["manual"]


def _actions_handled(customers_app: Flask) -> int:
    from shared.db import InboxMessage

    with customers_app.extensions["crm"].session_factory() as session:
        return len(
            session.scalars(
                select(InboxMessage).where(InboxMessage.type == "automation.action_requested")
            ).all()
        )


def _fired(app: Flask, customer_id: uuid.UUID) -> bool:
    from services.automation.models import Decision

    with app.extensions["crm"].session_factory() as session:
        return bool(
            session.scalars(
                select(Decision).where(Decision.customer_id == customer_id, Decision.fired)
            ).first()
        )


@pytest.fixture
def publish_as(broker_urls: Callable[[str], str]) -> Iterator[Callable[[str, Any], None]]:
    """Publishes an event as its owner does (`billing`, `scheduling`: its own broker user)."""
    publishers: dict[str, EventPublisher] = {}

    def _publish(event_type: str, data: Any) -> None:
        owner = event_type.split(".")[0]
        if owner not in publishers:
            publishers[owner] = EventPublisher(make_connection(broker_urls(owner)), identity=owner)
        event = make_event(event_type, data, source=owner)
        publishers[owner].publish_batch(
            [OutgoingMessage(routing_key=event_type, body=event.to_json(), message_id=event.id)]
        )

    yield _publish
    for publisher in publishers.values():
        publisher.close()


@pytest.mark.parametrize(
    ("rule_id", "event_type", "data"), FIRST_RULES, ids=[r[0] for r in FIRST_RULES]
)
def test_each_default_rule_through_rabbitmq_switched_off_then_on(
    rule_id: str,
    event_type: str,
    data: Callable[[uuid.UUID], dict[str, Any]],
    app: Flask,
    customers_app: Flask,
    workers: list[Worker],
    publish_as: Callable[[str, Any], None],
    writer: dict[str, str],
    admin: dict[str, str],
    decisions: Callable[[uuid.UUID], list[Any]],
) -> None:
    def outcomes(customer_id: uuid.UUID) -> list[str]:
        return [d.outcome for d in decisions(customer_id) if d.rule_id == rule_id]

    automation = app.test_client()
    off = automation.patch(f"/automation/rules/{rule_id}", json={"enabled": False}, headers=admin)
    assert off.status_code == 200, off.get_json()
    dormant = customer_in(customers_app, writer)
    wait_until(lambda: facts_known(app, dormant))

    publish_as(event_type, data(dormant))

    wait_until(lambda: outcomes(dormant) == ["rule_off"])
    on = automation.patch(f"/automation/rules/{rule_id}", json={"enabled": True}, headers=admin)
    assert on.status_code == 200, on.get_json()
    customer = customer_in(customers_app, writer)
    wait_until(lambda: facts_known(app, customer))

    publish_as(event_type, data(customer))

    wait_until(lambda: status_of(customers_app, customer) == "active")
    assert status_events(customers_app, customer) == [f"rule:{rule_id}"]
    assert outcomes(customer) == ["fired"]
    assert status_of(customers_app, dormant) == "lead"  # switching on replays nothing
