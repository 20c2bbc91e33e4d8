"""Runs of events handled set-based, as the consumer hands a batch over: each event's rules read
the facts as of that event (not the run's end), a redelivery inside the batch counts once, the
out-of-order events of one batch keep the earliest first fact and the latest status, and several
customers in one run are each decided on."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.automation.handlers import subscriptions
from services.automation.models import CustomerFacts, CustomerRevenue
from shared.db import utcnow
from shared.events.consumer import EventDispatcher
from shared.events.envelope import CloudEvent
from tests.integration.automation.conftest import event_of, payment, status_changed

pytestmark = pytest.mark.needs_postgres


@pytest.fixture
def deliver_batch(app: Flask) -> Callable[[list[CloudEvent]], list[bool]]:
    """Hands events to the automation handlers in one batch (one transaction), as the consumer
    does with what one prefetch brought."""
    dispatcher = EventDispatcher("automation", subscriptions(None), app.extensions["crm"].uow)
    return dispatcher.dispatch_batch


def facts_of(app: Flask, customer_id: uuid.UUID) -> CustomerFacts:
    with app.extensions["crm"].session_factory() as session:
        facts = session.get(CustomerFacts, customer_id)
        assert facts is not None
        return facts


def test_two_first_payments_in_one_batch_fire_the_rule_once_on_the_first(
    app: Flask,
    new_customer: Callable[..., uuid.UUID],
    deliver_batch: Callable[[list[CloudEvent]], list[bool]],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    customer = new_customer()
    first = event_of("billing.payment.recorded", payment(customer))
    second = event_of("billing.payment.recorded", payment(customer))

    assert deliver_batch([first, second, first]) == [True, True, False]

    assert len(actions(customer)) == 1
    assert actions(customer)[0]["trigger"]["event_id"] == first.id
    first_payment = [d for d in decisions(customer) if d.rule_id == "first-payment"]
    assert [(d.trigger_event_id, d.outcome) for d in first_payment] == [
        (first.id, "fired"),
        (second.id, "condition_false"),  # it read payments_count 2, as of the second
    ]
    assert first_payment[1].conditions[1]["actual"] == 2
    assert facts_of(app, customer).payments_count == 2


def test_each_event_of_a_batch_reads_the_revenue_as_of_itself(
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    deliver_batch: Callable[[list[CloudEvent]], list[bool]],
    decisions: Callable[..., list[Any]],
    app: Flask,
) -> None:
    response = client.post(
        "/automation/rules",
        json={
            "name": "big spender",
            "trigger": "billing.purchase.completed",
            "conditions": [{"field": "revenue.EUR", "op": "gte", "value": "1000"}],
            "actions": [{"set_status": "vip"}],
        },
        headers=admin,
    )
    assert response.status_code == 201, response.get_json()
    rule_id = response.get_json()["id"]
    customer = new_customer("active")
    purchase = {"customer_id": str(customer), "currency": "EUR", "order_reference": "o"}
    events = [
        event_of("billing.purchase.completed", {**purchase, "amount": amount})
        for amount in ("600.00", "400.00", "50.00")
    ]

    deliver_batch(events)

    ours = [d for d in decisions(customer) if d.rule_id == rule_id]
    assert [(d.conditions[0]["actual"], d.outcome) for d in ours] == [
        ("600.00", "condition_false"),
        ("1000.00", "fired"),
        ("1050.00", "fired"),  # a fact of its own: the rule fires once per fact
    ]
    with app.extensions["crm"].session_factory() as session:
        revenue = session.get(CustomerRevenue, (customer, "EUR"))
    assert revenue is not None and revenue.amount == 1050


def test_out_of_order_events_in_one_batch_keep_the_earliest_first_and_the_latest_status(
    app: Flask,
    new_customer: Callable[..., uuid.UUID],
    deliver_batch: Callable[[list[CloudEvent]], list[bool]],
) -> None:
    now = utcnow()
    customer = new_customer("lead", time=now - timedelta(days=3))

    deliver_batch(
        [
            event_of("customer.status_changed", status_changed(customer, "vip", "lead"), now),
            event_of(
                "customer.status_changed",
                status_changed(customer, "prospect", "lead"),
                now - timedelta(days=1),
            ),
        ]
    )
    deliver_batch(
        [
            event_of("billing.payment.recorded", payment(customer), now - timedelta(hours=1)),
            event_of("billing.payment.recorded", payment(customer), now - timedelta(hours=5)),
        ]
    )

    facts = facts_of(app, customer)
    assert facts.status == "vip"
    assert facts.first_payment_at == now - timedelta(hours=5)
    assert facts.last_interaction_at == now - timedelta(hours=1)
    assert facts.payments_count == 2


def test_one_batch_of_many_customers_decides_for_each(
    app: Flask,
    new_customer: Callable[..., uuid.UUID],
    deliver_batch: Callable[[list[CloudEvent]], list[bool]],
    actions: Callable[..., list[dict[str, Any]]],
) -> None:
    leads = [new_customer("lead") for _ in range(5)]
    active = new_customer("active")
    stranger = uuid.uuid4()  # nobody told automation about them
    customers = [*leads, active, stranger]

    deliver_batch([event_of("billing.invoice.issued", invoice(c)) for c in customers])

    fired = {uuid.UUID(a["customer_id"]) for a in actions()}
    assert fired == set(leads)
    assert all(facts_of(app, c).invoices_count == 1 for c in customers)
    assert facts_of(app, stranger).known is False


def invoice(customer_id: uuid.UUID) -> dict[str, Any]:
    return {
        "customer_id": str(customer_id),
        "invoice_number": f"F-{customer_id.hex[:6]}",
        "amount": "10.00",
        "currency": "EUR",
    }


def test_each_action_of_a_batch_carries_its_own_events_correlation_id(
    app: Flask,
    new_customer: Callable[..., uuid.UUID],
    deliver_batch: Callable[[list[CloudEvent]], list[bool]],
) -> None:
    from sqlalchemy import select

    from shared.db import OutboxMessage

    customers = [new_customer() for _ in range(3)]
    events = []
    for n, customer in enumerate(customers):
        event = event_of("billing.payment.recorded", payment(customer))
        events.append(dataclasses.replace(event, correlationid=f"request-{n}"))

    deliver_batch(events)

    with app.extensions["crm"].session_factory() as session:
        payloads = session.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.type == "automation.action_requested")
        ).all()
    carried = {
        json.loads(p)["data"]["customer_id"]: json.loads(p)["correlationid"] for p in payloads
    }
    assert carried == {str(c): f"request-{n}" for n, c in enumerate(customers)}


def test_a_long_run_logs_every_decision_and_chain_in_order(
    app: Flask,
    new_customer: Callable[..., uuid.UUID],
    deliver_batch: Callable[[list[CloudEvent]], list[bool]],
    decisions: Callable[..., list[Any]],
) -> None:
    from sqlalchemy import select

    from services.automation.models import ActionRequest, Decision

    leads = [new_customer("lead") for _ in range(12)]
    events = [event_of("billing.invoice.issued", invoice(c)) for c in leads]

    deliver_batch(events)  # decisions and chains written by one statement

    for lead, event in zip(leads, events, strict=True):
        (decision,) = [d for d in decisions(lead) if d.rule_id == "first-invoice"]
        assert (decision.trigger_event_id, decision.outcome, decision.fired) == (
            event.id,
            "fired",
            True,
        )
        assert decision.actions == [{"set_status": "active"}]
        assert decision.conditions and all(c["result"] for c in decision.conditions)
    with app.extensions["crm"].session_factory() as session:
        chains = session.scalars(
            select(ActionRequest).where(ActionRequest.customer_id.in_(leads))
        ).all()
    assert [(c.customer_id, c.rule_id, c.depth) for c in sorted(chains, key=lambda c: c.id)] == [
        (lead, "first-invoice", 1) for lead in leads
    ]
    with app.extensions["crm"].session_factory() as session:
        logged = session.scalars(
            select(Decision.customer_id)
            .where(Decision.customer_id.in_(leads), Decision.rule_id == "first-invoice")
            .order_by(Decision.id)
        ).all()
    assert list(logged) == leads  # in the order of their events
    assert {c.fact_key for c in chains} == {f"billing:{e.id}" for e in events}


def test_the_same_fact_twice_in_a_run_fires_once_on_the_first(
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    deliver_batch: Callable[[list[CloudEvent]], list[bool]],
    decisions: Callable[..., list[Any]],
) -> None:
    customer = new_customer()
    deliver_batch([event_of("billing.payment.recorded", payment(customer))])  # fact F fires
    rule = {
        "name": "changed by a rule: VIP",
        "trigger": "customer.status_changed",
        "conditions": [{"field": "status", "op": "ne", "value": "lead"}],
        "actions": [{"set_status": "vip"}],
    }
    created = client.post("/automation/rules", json=rule, headers=admin)
    assert created.status_code == 201, created.get_json()
    # Two changes of one chain (fact F) in one run: the rule fires once, on the first.
    first, second = (
        event_of(
            "customer.status_changed", status_changed(customer, to, "lead", "rule:first-payment")
        )
        for to in ("active", "prospect")
    )
    deliver_batch([first, second])

    logged = [d for d in decisions(customer) if d.rule_id == created.get_json()["id"]]
    assert [(d.trigger_event_id, d.outcome, d.fired) for d in logged] == [
        (first.id, "fired", True),
        (second.id, "already_fired", False),
    ]
    assert [d.actions for d in logged] == [[{"set_status": "vip"}], []]
    assert {d.fact_key for d in logged} == {logged[0].fact_key} != {f"customers:{first.id}"}
