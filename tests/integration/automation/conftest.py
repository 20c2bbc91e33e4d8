"""Fixtures of the automation tests: the app on PostgreSQL with its defaults, events handed to
the real handlers as the consumer does, customers' facts, and the outbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.automation.app import create_app
from services.automation.defaults import seed_defaults
from services.automation.handlers import subscriptions
from services.automation.models import Decision
from services.customers.app import create_app as create_customers_app
from services.customers.models import DEFAULT_STATUSES, Status
from shared.db import OutboxMessage
from shared.events.consumer import EventDispatcher
from shared.events.envelope import CloudEvent, make_event
from shared.events.registry import parse_event
from shared.settings import Settings
from tests.integration.customers.conftest import closed_port

SOURCES = {
    "customer": "customers",
    "tag": "tags",
    "billing": "billing",
    "scheduling": "scheduling",
    "support": "support",
    "marketing": "marketing",
}


@pytest.fixture
def automation_settings(pg_settings: Callable[..., Settings]) -> Settings:
    """Automation on its emptied PostgreSQL test database; customers and tags nowhere."""
    nowhere = f"http://127.0.0.1:{closed_port()}"
    return pg_settings("automation", service_urls={"customers": nowhere, "tags": nowhere})


def seed(app: Flask) -> None:
    """The settings row, the built-in rules and the default statuses (emptying removed them)."""
    with app.extensions["crm"].session_factory() as session:
        seed_defaults(session)
        session.commit()


@pytest.fixture
def app(automation_settings: Settings) -> Iterator[Flask]:
    app = create_app(automation_settings)
    seed(app)
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def customers_app(pg_settings: Callable[..., Settings], broker_urls: Any) -> Iterator[Flask]:
    """The customers app on its emptied test database with its default statuses, publishing
    as crm-customers on the test virtual host; tags nowhere."""
    nowhere = f"http://127.0.0.1:{closed_port()}"
    settings = pg_settings("customers", service_urls={"tags": nowhere})
    settings = settings.__class__(**{**settings.__dict__, "broker_url": broker_urls("customers")})
    app = create_customers_app(settings)
    with app.extensions["crm"].session_factory() as session:
        session.add_all(
            Status(key=key, label=label, is_default=True, position=position)
            for key, label, position in DEFAULT_STATUSES
        )
        session.commit()
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def reader(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read")


@pytest.fixture
def writer(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read", "customers:write")


def customer_in(customers_app: Flask, writer: dict[str, str]) -> uuid.UUID:
    """A customer created through customers' API (`POST /customers`); their id."""
    response = customers_app.test_client().post(
        "/customers",
        json={"kind": "individual", "first_name": "Ada", "last_name": "Lovelace"},
        headers=writer,
    )
    assert response.status_code == 201, response.get_json()
    return uuid.UUID(response.get_json()["id"])


@pytest.fixture
def admin(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read", "settings:write")


def event_of(
    type: str,
    data: dict[str, Any],
    time: datetime | None = None,
    event_id: str | None = None,
) -> CloudEvent:
    """A valid event as its owner would publish it, its data loaded as the consumer loads it."""
    event = make_event(type, data, source=SOURCES[type.split(".")[0]], subject=data.get("id"))
    body = event.to_dict()
    if time is not None:
        body["time"] = time.isoformat()
    if event_id is not None:
        body["id"] = event_id
    return parse_event(body)


@pytest.fixture
def deliver(app: Flask) -> Callable[..., CloudEvent]:
    """Hands an event to the automation handlers as the consumer does (inbox included).

    `deliver(type, data, time=...)` makes a new event; `deliver(event)` delivers that one again.
    """
    dispatcher = EventDispatcher("automation", subscriptions(None), app.extensions["crm"].uow)

    def _deliver(
        event: CloudEvent | str, data: dict[str, Any] | None = None, **envelope: Any
    ) -> CloudEvent:
        if isinstance(event, str):
            assert data is not None
            event = event_of(event, data, **envelope)
        dispatcher.dispatch(event)
        return event

    return _deliver


@pytest.fixture
def new_customer(deliver: Callable[..., CloudEvent]) -> Callable[..., uuid.UUID]:
    """A customer automation heard of (`customer.created`); their id."""

    def _create(status: str = "lead", **envelope: Any) -> uuid.UUID:
        customer_id = uuid.uuid4()
        contact = {"email": f"{customer_id.hex[:8]}@example.com", "language": "fr"}
        deliver(
            "customer.created",
            {
                "customer_id": str(customer_id),
                "kind": "individual",
                "status": status,
                "customer": contact,
            },
            **envelope,
        )
        return customer_id

    return _create


@pytest.fixture
def actions(app: Flask) -> Callable[..., list[dict[str, Any]]]:
    """The `automation.action_requested` data in the outbox, oldest first (of one customer)."""

    def _actions(customer_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
        statement = select(OutboxMessage.payload).where(
            OutboxMessage.type == "automation.action_requested"
        )
        if customer_id is not None:
            statement = statement.where(OutboxMessage.subject == str(customer_id))
        with app.extensions["crm"].session_factory() as session:
            payloads = session.scalars(statement.order_by(OutboxMessage.id)).all()
        return [json.loads(payload)["data"] for payload in payloads]

    return _actions


@pytest.fixture
def decisions(app: Flask) -> Callable[[uuid.UUID], list[Decision]]:
    """A customer's decisions, oldest first."""

    def _decisions(customer_id: uuid.UUID) -> list[Decision]:
        with app.extensions["crm"].session_factory() as session:
            return list(
                session.scalars(
                    select(Decision)
                    .where(Decision.customer_id == customer_id)
                    .order_by(Decision.id)
                )
            )

    return _decisions


def payment(customer_id: uuid.UUID, amount: str = "10.00") -> dict[str, Any]:
    return {"customer_id": str(customer_id), "amount": amount, "currency": "EUR"}


def status_changed(
    customer_id: uuid.UUID, to: str, previous: str | None = None, reason: str = "manual"
) -> dict[str, Any]:
    return {"customer_id": str(customer_id), "from": previous, "to": to, "reason": reason}


# The built-in rules of a first fact: (rule, the external event type, its data for a customer).
FIRST_RULES = [
    ("first-payment", "billing.payment.recorded", payment),
    (
        "first-invoice",
        "billing.invoice.issued",
        lambda c: {**payment(c), "invoice_number": "F-1"},
    ),
    (
        "first-appointment",
        "scheduling.appointment.completed",
        lambda c: {"customer_id": str(c), "kind": "group_event"},
    ),
]
