"""The built-in rules one by one, through the real handlers on PostgreSQL: what fires, what does
not and why (the decisions log), each switch, the global switch, redelivery, out of order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.db import utcnow
from shared.events.envelope import CloudEvent
from tests.integration.automation.conftest import FIRST_RULES, payment, status_changed

pytestmark = pytest.mark.needs_postgres


@pytest.mark.parametrize(
    ("rule_id", "event_type", "data"), FIRST_RULES, ids=[r[0] for r in FIRST_RULES]
)
@pytest.mark.parametrize("status", ["lead", "prospect"])
def test_a_first_fact_makes_a_lead_or_prospect_active(
    rule_id: str,
    event_type: str,
    data: Callable[[uuid.UUID], dict[str, Any]],
    status: str,
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = new_customer(status)

    event = deliver(event_type, data(customer))

    [requested] = actions(customer)
    assert requested["rule_id"] == rule_id
    assert requested["action"] == {"set_status": "active"}
    assert requested["trigger"]["event_id"] == event.id
    assert requested["trigger"]["type"] == event_type
    assert requested["depth"] == 1


@pytest.mark.parametrize(
    ("rule_id", "event_type", "data"), FIRST_RULES, ids=[r[0] for r in FIRST_RULES]
)
def test_a_second_fact_or_another_status_fires_nothing(
    rule_id: str,
    event_type: str,
    data: Callable[[uuid.UUID], dict[str, Any]],
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    vip, lead = new_customer("vip"), new_customer("lead")
    deliver(event_type, data(vip))
    deliver(event_type, data(lead))
    deliver(event_type, data(lead))

    assert actions(vip) == []
    assert len(actions(lead)) == 1
    [not_a_lead] = [d for d in decisions(vip) if d.rule_id == rule_id]
    assert not_a_lead.outcome == "condition_false"
    assert not_a_lead.conditions[0] == {
        "field": "status",
        "op": "in",
        "expected": ["lead", "prospect"],
        "actual": "vip",
        "result": False,
    }
    second = [d for d in decisions(lead) if d.rule_id == rule_id][-1]
    assert second.outcome == "condition_false"
    assert second.conditions[1]["actual"] == 2


def test_a_redelivered_event_fires_once(
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    customer = new_customer()
    event = deliver("billing.payment.recorded", payment(customer))
    deliver(event)
    deliver(event)

    assert len(actions(customer)) == 1
    assert [d.outcome for d in decisions(customer) if d.rule_id == "first-payment"] == ["fired"]


def test_events_out_of_order_keep_the_earliest_first_fact_and_the_latest_status(
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    client: FlaskClient,
    reader: dict[str, str],
    app: Any,
) -> None:
    from services.automation.models import CustomerFacts

    now = utcnow()
    customer = new_customer("lead", time=now - timedelta(days=3))
    deliver("customer.status_changed", status_changed(customer, "vip", "lead"), time=now)
    deliver(
        "customer.status_changed",
        status_changed(customer, "prospect", "lead"),
        time=now - timedelta(days=1),
    )
    deliver("billing.payment.recorded", payment(customer), time=now - timedelta(hours=1))
    deliver("billing.payment.recorded", payment(customer), time=now - timedelta(hours=5))

    with app.extensions["crm"].session_factory() as session:
        facts = session.get(CustomerFacts, customer)
    assert facts.status == "vip"  # the older prospect change came late: vip stands
    assert facts.first_payment_at == now - timedelta(hours=5)
    assert facts.last_interaction_at == now - timedelta(hours=1)
    assert facts.payments_count == 2


@pytest.mark.parametrize(
    ("rule_id", "event_type", "data"), FIRST_RULES, ids=[r[0] for r in FIRST_RULES]
)
def test_each_builtin_rule_switched_off_then_on(
    rule_id: str,
    event_type: str,
    data: Callable[[uuid.UUID], dict[str, Any]],
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    off = client.patch(f"/automation/rules/{rule_id}", json={"enabled": False}, headers=admin)
    assert off.status_code == 200 and off.get_json()["enabled"] is False
    before = new_customer()
    deliver(event_type, data(before))
    assert actions(before) == []
    assert [d.outcome for d in decisions(before) if d.rule_id == rule_id] == ["rule_off"]

    on = client.patch(f"/automation/rules/{rule_id}", json={"enabled": True}, headers=admin)
    assert on.status_code == 200
    after = new_customer()
    deliver(event_type, data(after))
    assert [a["rule_id"] for a in actions(after)] == [rule_id]


def test_automation_switched_off_fires_nothing_but_keeps_the_facts(
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    assert (
        client.put("/automation/settings", json={"enabled": False}, headers=admin).status_code
        == 200
    )
    customer = new_customer()
    deliver("billing.payment.recorded", payment(customer))
    assert actions(customer) == []
    assert [d.outcome for d in decisions(customer) if d.rule_id == "first-payment"] == [
        "automation_off"
    ]

    client.put("/automation/settings", json={"enabled": True}, headers=admin)
    # The payment was recorded while off: the next one is not a first payment any more.
    deliver("billing.payment.recorded", payment(customer))
    last = [d for d in decisions(customer) if d.rule_id == "first-payment"][-1]
    assert last.outcome == "condition_false"
    assert last.conditions[1]["actual"] == 2


def test_an_unknown_customer_is_not_acted_on_and_the_decision_says_so(
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    stranger = uuid.uuid4()
    deliver("billing.payment.recorded", payment(stranger))
    assert actions(stranger) == []
    assert [d.outcome for d in decisions(stranger)] == ["unknown_customer"]


def test_the_decisions_endpoint_explains_why_a_customer_is_active(
    client: FlaskClient,
    reader: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
) -> None:
    customer = new_customer("prospect")
    event = deliver("billing.payment.recorded", payment(customer))

    response = client.get(f"/automation/customers/{customer}/decisions", headers=reader)

    assert response.status_code == 200
    [decision] = response.get_json()["items"]
    assert decision["rule_id"] == "first-payment"
    assert decision["rule_version"] == 1
    assert decision["outcome"] == "fired" and decision["fired"] is True
    assert decision["trigger"]["event_id"] == event.id
    assert decision["trigger"]["type"] == "billing.payment.recorded"
    assert decision["actions"] == [{"set_status": "active"}]
    assert [c["result"] for c in decision["conditions"]] == [True, True]
    assert decision["conditions"][0]["actual"] == "prospect"
