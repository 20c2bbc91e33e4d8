"""Custom rules: validated when saved (422 naming the field), every condition and action kind
through real handlers, chains of rules stopped (once per fact, depth 3), the daily sweep."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.automation.errors import InvalidRule
from services.automation.sweep import run_sweep
from services.automation.usecases import create_rule
from shared.db import utcnow
from shared.events.envelope import CloudEvent
from tests.integration.automation.conftest import payment, status_changed

pytestmark = pytest.mark.needs_postgres

TAG = uuid.uuid4()


@pytest.fixture
def known_tag(deliver: Callable[..., CloudEvent]) -> uuid.UUID:
    """A tag automation learnt from `tag.created`."""
    now = utcnow().isoformat()
    deliver(
        "tag.created",
        {
            "id": str(TAG),
            "name": "Interested",
            "description": "d",
            "color": "#123456",
            "order": None,
            "is_fixed": False,
            "created_at": now,
            "updated_at": now,
        },
    )
    return TAG


@pytest.fixture
def new_rule(client: FlaskClient, admin: dict[str, str]) -> Callable[..., dict[str, Any]]:
    def _create(**body: Any) -> dict[str, Any]:
        response = client.post("/automation/rules", json={"name": "r", **body}, headers=admin)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return _create


def test_a_rule_naming_an_unknown_status_or_a_malformed_condition_is_422(
    client: FlaskClient, admin: dict[str, str], known_tag: uuid.UUID
) -> None:
    body = {
        "name": "bad",
        "trigger": "billing.purchase.completed",
        "conditions": [
            {"field": "status", "op": "eq", "value": "lead"},
            {"field": "revenue.EUR", "op": "bigger", "value": "1"},
        ],
        "actions": [{"set_status": "lead"}, {"add_tag": str(known_tag)}],
    }
    response = client.post("/automation/rules", json=body, headers=admin)
    assert response.status_code == 422
    assert response.get_json()["errors"]["json"] == {
        "conditions": {"1": {"op": ["one of eq, ne, gt, gte, lt, lte, in, contains"]}}
    }

    wrong_trigger = {**body, "conditions": [], "trigger": "billing.everything"}
    response = client.post("/automation/rules", json=wrong_trigger, headers=admin)
    assert response.status_code == 422
    assert "trigger" in response.get_json()["errors"]["json"]


class Owners:
    """customers and tags as automation asks them (a fake: the HTTP clients have their tests)."""

    def __init__(self, statuses: set[str], tags: dict[uuid.UUID, str]) -> None:
        self.statuses, self.known_tags, self.asked = statuses, tags, []

    def customer(self, customer_id: uuid.UUID) -> None:
        return None

    def status_exists(self, key: str) -> bool:
        self.asked.append(key)
        return key in self.statuses

    def tags(self, ids: Any) -> dict[uuid.UUID, str]:
        self.asked.extend(ids)
        return {tag: self.known_tags[tag] for tag in ids if tag in self.known_tags}


def test_a_status_or_tag_not_projected_is_asked_of_its_owner_before_it_is_refused(
    app: Flask,
) -> None:
    fresh_tag, ghost_tag = uuid.uuid4(), uuid.uuid4()
    owners = Owners({"gold"}, {fresh_tag: "Fresh"})
    body = {
        "name": "r",
        "trigger": "billing.payment.recorded",
        "conditions": [{"field": "tags", "op": "contains", "value": str(fresh_tag)}],
        "actions": [{"set_status": "gold"}],
    }
    rule = create_rule(app.extensions["crm"].uow(), body, owners)
    assert rule.actions == [{"set_status": "gold"}]
    assert set(owners.asked) == {"gold", fresh_tag}
    # Projected from the answers: not asked again.
    owners.asked.clear()
    create_rule(app.extensions["crm"].uow(), body, owners)
    assert owners.asked == []

    bad = {**body, "actions": [{"set_status": "ghost"}, {"add_tag": str(ghost_tag)}]}
    with pytest.raises(InvalidRule) as refused:
        create_rule(app.extensions["crm"].uow(), bad, owners)
    assert refused.value.errors == {
        "actions": {
            "0": {"set_status": ["unknown status ghost"]},
            "1": {"add_tag": [f"unknown tag {ghost_tag}"]},
        }
    }


def test_a_rule_naming_a_tag_nobody_knows_is_refused_when_tags_cannot_say(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    body = {
        "name": "tag",
        "trigger": "marketing.email.clicked",
        "actions": [{"add_tag": str(uuid.uuid4())}],
    }
    response = client.post("/automation/rules", json=body, headers=admin)
    # Not projected: the tags service is asked (read your writes); it does not answer here.
    assert response.status_code == 503


def test_builtin_rules_cannot_be_deleted_or_rewritten(
    client: FlaskClient, admin: dict[str, str]
) -> None:
    assert client.delete("/automation/rules/first-payment", headers=admin).status_code == 409
    response = client.patch("/automation/rules/first-payment", json={"actions": []}, headers=admin)
    assert response.status_code == 409
    assert client.get("/automation/rules/nope", headers=admin).status_code == 404


def test_a_click_on_a_campaign_tags_the_customer_interested(
    new_rule: Callable[..., dict[str, Any]],
    known_tag: uuid.UUID,
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
) -> None:
    rule = new_rule(
        trigger="marketing.email.clicked",
        conditions=[{"field": "event.campaign", "op": "contains", "value": "spring"}],
        actions=[{"add_tag": str(known_tag)}],
    )
    customer, other = new_customer(), new_customer()

    deliver("marketing.email.clicked", {"customer_id": str(customer), "campaign": "Spring 26"})
    deliver("marketing.email.clicked", {"customer_id": str(other), "campaign": "Winter"})

    assert [(a["rule_id"], a["action"]) for a in actions(customer)] == [
        (rule["id"], {"add_tag": str(known_tag)})
    ]
    assert actions(other) == []


def test_revenue_above_a_threshold_gives_vip_and_removes_a_tag(
    new_rule: Callable[..., dict[str, Any]],
    known_tag: uuid.UUID,
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
) -> None:
    new_rule(
        trigger="billing.purchase.completed",
        conditions=[
            {"field": "revenue.EUR", "op": "gte", "value": "1000"},
            {"field": "purchases_count", "op": "gt", "value": 1},
            {"field": "status", "op": "ne", "value": "vip"},
            {"field": "tags", "op": "contains", "value": str(known_tag)},
            {"field": "customer.language", "op": "in", "value": ["fr", "en"]},
            {"field": "days_since_last_interaction", "op": "lte", "value": 1},
            {"field": "customer.kind", "op": "eq", "value": "individual"},
            {"field": "event.amount", "op": "lt", "value": "10000"},
        ],
        actions=[{"set_status": "vip"}, {"remove_tag": str(known_tag)}],
    )
    customer = new_customer("active")
    deliver(
        "customer.tagged",
        {"customer_id": str(customer), "tag_id": str(known_tag), "reason": "manual"},
    )
    purchase = {"customer_id": str(customer), "currency": "EUR", "order_reference": "o"}

    deliver("billing.purchase.completed", {**purchase, "amount": "600.00"})
    assert actions(customer) == []  # 600 and one purchase
    deliver("billing.purchase.completed", {**purchase, "amount": "400.00"})

    assert [a["action"] for a in actions(customer)] == [
        {"set_status": "vip"},
        {"remove_tag": str(known_tag)},
    ]


def test_contradictory_rules_do_not_ping_pong(
    new_rule: Callable[..., dict[str, Any]],
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    to_active = new_rule(
        trigger="customer.status_changed",
        conditions=[{"field": "event.to", "op": "eq", "value": "vip"}],
        actions=[{"set_status": "active"}],
    )
    to_vip = new_rule(
        trigger="customer.status_changed",
        conditions=[{"field": "event.to", "op": "eq", "value": "active"}],
        actions=[{"set_status": "vip"}],
    )
    customer = new_customer("prospect")
    # A manual change starts it; customers would answer each action with a status change.
    deliver("customer.status_changed", status_changed(customer, "vip", "prospect"))
    deliver(
        "customer.status_changed",
        status_changed(customer, "active", "vip", f"rule:{to_active['id']}"),
    )
    deliver(
        "customer.status_changed",
        status_changed(customer, "vip", "active", f"rule:{to_vip['id']}"),
    )

    assert [a["rule_id"] for a in actions(customer)] == [to_active["id"], to_vip["id"]]
    assert [a["depth"] for a in actions(customer)] == [1, 2]
    last = [d for d in decisions(customer) if d.rule_id == to_active["id"]][-1]
    assert last.outcome == "already_fired"
    assert last.depth == 3


def test_a_chain_of_rules_stops_at_depth_three(
    new_rule: Callable[..., dict[str, Any]],
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    steps = ["prospect", "active", "vip", "inactive", "lead"]
    rules = [
        new_rule(
            trigger="customer.status_changed",
            conditions=[{"field": "event.to", "op": "eq", "value": here}],
            actions=[{"set_status": there}],
        )
        for here, there in zip(steps, steps[1:], strict=False)
    ]
    customer = new_customer("lead")
    deliver("customer.status_changed", status_changed(customer, "prospect", "lead"))
    # customers applies each requested action; the third rule's change reaches depth 4.
    for rule, here, there in zip(rules[:3], steps, steps[1:], strict=False):
        changed = status_changed(customer, there, here, f"rule:{rule['id']}")
        deliver("customer.status_changed", changed)

    assert [a["depth"] for a in actions(customer)] == [1, 2, 3]
    assert [d.outcome for d in decisions(customer) if d.rule_id == rules[3]["id"]][-1] == (
        "depth_limit"
    )


def test_the_inactivity_sweep_with_a_frozen_clock_runs_once_a_day(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
    decisions: Callable[..., list[Any]],
) -> None:
    client.put("/automation/settings", json={"inactivity_days": 30}, headers=admin)
    now = utcnow()
    long_ago = now - timedelta(days=45)
    idle_active = new_customer("active", time=long_ago)
    idle_vip = new_customer("vip", time=long_ago)
    idle_lead = new_customer("lead", time=long_ago)
    busy = new_customer("active", time=long_ago)
    deliver("billing.payment.recorded", payment(busy), time=now - timedelta(days=2))
    uow = app.extensions["crm"].uow

    assert run_sweep(uow, clock=lambda: now, chunk=1) == 2
    assert run_sweep(uow, clock=lambda: now + timedelta(hours=3)) == 0  # same day: nothing

    assert [a["action"] for a in actions(idle_active)] == [{"set_status": "inactive"}]
    assert [a["rule_id"] for a in actions(idle_vip)] == ["inactivity"]
    assert actions(idle_lead) == actions(busy) == []
    [decision] = decisions(idle_active)[-1:]
    assert decision.outcome == "fired" and decision.fact_key == f"day:{now.date()}"
    assert decision.conditions[1]["actual"] == 45
    assert decision.conditions[1]["expected"] == 30

    # Still active the next day (customers did not apply it yet): it is asked again, once.
    assert run_sweep(uow, clock=lambda: now + timedelta(days=1)) == 2


def test_the_sweep_does_nothing_when_switched_off(
    app: Flask,
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., uuid.UUID],
    actions: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = new_customer("active", time=utcnow() - timedelta(days=400))
    client.patch("/automation/rules/inactivity", json={"enabled": False}, headers=admin)
    assert run_sweep(app.extensions["crm"].uow) == 0
    client.patch("/automation/rules/inactivity", json={"enabled": True}, headers=admin)
    client.put("/automation/settings", json={"enabled": False}, headers=admin)
    assert run_sweep(app.extensions["crm"].uow) == 0
    assert actions(customer) == []


def test_a_daily_custom_rule_fires_once_a_day(
    app: Flask,
    new_rule: Callable[..., dict[str, Any]],
    known_tag: uuid.UUID,
    new_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    actions: Callable[..., list[dict[str, Any]]],
) -> None:
    rule = new_rule(
        trigger="schedule.daily",
        conditions=[{"field": "payments_count", "op": "gte", "value": 2}],
        actions=[{"add_tag": str(known_tag)}],
    )
    loyal, other = new_customer("active"), new_customer("active")
    deliver("billing.payment.recorded", payment(loyal))
    deliver("billing.payment.recorded", payment(loyal))
    uow, now = app.extensions["crm"].uow, utcnow()

    assert run_sweep(uow, clock=lambda: now) == 1
    assert run_sweep(uow, clock=lambda: now) == 0
    assert [a["rule_id"] for a in actions(loyal)] == [rule["id"]]
    assert actions(other) == []
