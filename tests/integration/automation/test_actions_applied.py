"""Customers applying a run of `automation.action_requested` in one batch, as its consumer hands
them over: each customer locked once, each action in order (a tag, then a status, of the same
customer: both, one version each), a customer deleted since or a later manual change skipped,
and the resulting events with `reason: rule:<id>` and each request's correlation id."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from services.customers.handlers import SUBSCRIPTIONS
from services.customers.models import Customer
from shared.db import OutboxMessage, utcnow
from shared.events.consumer import EventDispatcher
from shared.events.envelope import CloudEvent, make_event
from shared.events.registry import parse_event
from tests.integration.automation.conftest import customer_in

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]  # customers_app's URL

TAG = uuid.uuid4()


@pytest.fixture
def dispatch(customers_app: Flask) -> Callable[[list[CloudEvent]], list[bool]]:
    dispatcher = EventDispatcher("customers", SUBSCRIPTIONS, customers_app.extensions["crm"].uow)
    now = utcnow().isoformat()
    tag = {"id": str(TAG), "name": "Hot", "description": "d", "color": "#123456", "order": None,
           "is_fixed": False, "created_at": now, "updated_at": now}  # fmt: skip
    dispatcher.dispatch(parse_event(make_event("tag.created", tag, source="tags").to_dict()))
    return dispatcher.dispatch_batch


def requested(
    customer_id: uuid.UUID, rule_id: str, action: dict[str, Any], time: datetime | None = None
) -> CloudEvent:
    data = {
        "customer_id": str(customer_id),
        "rule_id": rule_id,
        "action": action,
        "trigger": {
            "event_id": str(uuid.uuid4()),
            "type": "billing.payment.recorded",
            "time": (time or utcnow()).isoformat(),
        },
        "depth": 1,
    }
    body = make_event("automation.action_requested", data, source="automation").to_dict()
    body["correlationid"] = f"corr-{rule_id}-{customer_id.hex[:6]}"
    return parse_event(body)


def customer_of(customers_app: Flask, customer_id: uuid.UUID) -> Customer:
    with customers_app.extensions["crm"].session_factory() as session:
        customer = session.get(Customer, customer_id)
        assert customer is not None
        return customer


def emitted(customers_app: Flask, customer_id: uuid.UUID) -> list[tuple[str, str, str | None]]:
    """(type, reason, correlation id) of the customer's rule events, in order."""
    with customers_app.extensions["crm"].session_factory() as session:
        payloads = session.scalars(
            select(OutboxMessage.payload)
            .where(
                OutboxMessage.subject == str(customer_id),
                OutboxMessage.type.in_(["customer.status_changed", "customer.tagged"]),
            )
            .order_by(OutboxMessage.id)
        ).all()
    events = [json.loads(payload) for payload in payloads]
    return [
        (e["type"], e["data"]["reason"], e.get("correlationid"))
        for e in events
        if e["data"]["reason"].startswith("rule:")
    ]


def test_a_run_of_actions_is_applied_in_order_each_customer_once_per_action(
    customers_app: Flask,
    dispatch: Callable[[list[CloudEvent]], list[bool]],
    writer: dict[str, str],
) -> None:
    first, second, third = (customer_in(customers_app, writer) for _ in range(3))
    version = customer_of(customers_app, first).version

    dispatch(
        [
            requested(first, "tagger", {"add_tag": str(TAG)}),
            requested(first, "activate", {"set_status": "active"}),
            requested(second, "activate", {"set_status": "active"}),
            requested(second, "tagger", {"add_tag": str(TAG)}),  # after its status change
            requested(uuid.uuid4(), "activate", {"set_status": "active"}),  # nobody
            requested(third, "activate", {"set_status": "no-such-status"}),
            # A later fact's action (its trigger after the change the second one makes).
            requested(first, "vip", {"set_status": "vip"}, utcnow() + timedelta(seconds=30)),
        ]
    )

    assert customer_of(customers_app, first).status == "vip"
    assert customer_of(customers_app, first).version == version + 3
    assert customer_of(customers_app, second).status == "active"
    assert customer_of(customers_app, third).status == "lead"
    assert emitted(customers_app, first) == [
        ("customer.tagged", "rule:tagger", f"corr-tagger-{first.hex[:6]}"),
        ("customer.status_changed", "rule:activate", f"corr-activate-{first.hex[:6]}"),
        ("customer.status_changed", "rule:vip", f"corr-vip-{first.hex[:6]}"),
    ]
    assert emitted(customers_app, second) == [
        ("customer.status_changed", "rule:activate", f"corr-activate-{second.hex[:6]}"),
        ("customer.tagged", "rule:tagger", f"corr-tagger-{second.hex[:6]}"),
    ]


def test_a_status_changed_after_the_trigger_wins_within_a_run(
    customers_app: Flask,
    dispatch: Callable[[list[CloudEvent]], list[bool]],
    writer: dict[str, str],
) -> None:
    customer = customer_in(customers_app, writer)
    an_hour_ago = utcnow() - timedelta(hours=1)

    dispatch(
        [
            requested(customer, "activate", {"set_status": "active"}),
            # Its trigger is older than the change the first action just made.
            requested(customer, "prospect", {"set_status": "prospect"}, an_hour_ago),
        ]
    )

    assert customer_of(customers_app, customer).status == "active"
    assert [reason for _, reason, _ in emitted(customers_app, customer)] == ["rule:activate"]
