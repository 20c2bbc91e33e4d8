"""The worker holds the rules and the main switch between batches (`RuleBook`): any change,
through the API or straight in the database, applies from the next batch on."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from services.automation.handlers import subscriptions
from shared.events.consumer import EventDispatcher
from tests.integration.automation.conftest import event_of, payment

pytestmark = pytest.mark.needs_postgres

RULE = {
    "name": "paying customers are VIP",
    "trigger": "billing.payment.recorded",
    "conditions": [{"field": "payments_count", "op": "gte", "value": 1}],
    "actions": [{"set_status": "vip"}],
}


@pytest.fixture
def pay(app: Flask) -> Callable[[uuid.UUID], list[bool]]:
    """A payment handed to one long-lived set of handlers, one batch each (as a worker does)."""
    dispatcher = EventDispatcher("automation", subscriptions(None), app.extensions["crm"].uow)
    return lambda customer: dispatcher.dispatch_batch(
        [event_of("billing.payment.recorded", payment(customer))]
    )


def outcomes(decisions: Callable[..., list[Any]], customer: uuid.UUID) -> dict[str, Any]:
    return {d.rule_id: (d.outcome, d.rule_version) for d in decisions(customer)}


def test_a_rule_created_changed_and_deleted_applies_from_the_next_batch(
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    pay: Callable[[uuid.UUID], list[bool]],
    decisions: Callable[..., list[Any]],
) -> None:
    first = new_customer()
    pay(first)  # the book is read, and held
    assert set(outcomes(decisions, first)) == {"first-payment"}

    created = client.post("/automation/rules", json=RULE, headers=admin)
    assert created.status_code == 201
    rule_id = created.get_json()["id"]
    second = new_customer()
    pay(second)
    assert outcomes(decisions, second)[rule_id] == ("fired", 1)

    changed = client.patch(
        f"/automation/rules/{rule_id}",
        json={"conditions": [{"field": "payments_count", "op": "gte", "value": 2}]},
        headers={**admin, "If-Match": created.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.get_json()
    third = new_customer()
    pay(third)
    assert outcomes(decisions, third)[rule_id] == ("condition_false", 2)

    assert client.delete(f"/automation/rules/{rule_id}", headers=admin).status_code == 204
    fourth = new_customer()
    pay(fourth)
    assert set(outcomes(decisions, fourth)) == {"first-payment"}


def test_a_switch_turned_in_the_database_applies_from_the_next_batch(
    app: Flask,
    new_customer: Callable[..., uuid.UUID],
    pay: Callable[[uuid.UUID], list[bool]],
    decisions: Callable[..., list[Any]],
) -> None:
    def first_payment_after(*statements: str) -> tuple[str, int]:
        """The first-payment rule's decision on the batch after these statements committed."""
        with app.extensions["crm"].session_factory() as session:
            for statement in statements:
                session.execute(text(statement))
            session.commit()
        customer = new_customer()
        pay(customer)
        outcome: tuple[str, int] = outcomes(decisions, customer)["first-payment"]
        return outcome

    assert first_payment_after() == ("fired", 1)  # the book is read, and held
    switch_rule = "UPDATE rules SET enabled = {} WHERE id = 'first-payment'"
    assert first_payment_after(switch_rule.format("false")) == ("rule_off", 1)
    assert first_payment_after(
        switch_rule.format("true"), "UPDATE automation_settings SET enabled = false"
    ) == ("automation_off", 1)
    assert first_payment_after("UPDATE automation_settings SET enabled = true") == ("fired", 1)
