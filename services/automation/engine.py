"""Rules at work: for an event about a customer, every rule it triggers is evaluated, logged
as a decision (fired or not, and why), and fired at most once per (rule, customer, fact).

A rule's actions go out as `automation.action_requested`; customers applies them and publishes
the change with `reason: "rule:<id>"`. That change may trigger rules in turn: the chain keeps the
fact that started it, so a rule fires once per customer per starting fact (no ping-pong between
contradictory rules), and stops at depth `MAX_DEPTH`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.automation.directory import Directory
from services.automation.facts import facts_of, insert_for, record_customer
from services.automation.models import (
    SETTINGS_ID,
    ActionRequest,
    AutomationSettings,
    CustomerFacts,
    Decision,
    Firing,
    Rule,
)
from services.automation.rules.interpreter import evaluate, holds, plain
from shared.db import UnitOfWork, utcnow
from shared.service_client import ServiceUnavailable

log = logging.getLogger(__name__)

MAX_DEPTH = 3
"""Evaluations a chain of rule actions may reach: the triggering fact's, and two more."""
ACTION_REQUESTED = "automation.action_requested"

# Why a rule did or did not fire, as the decisions log says it.
FIRED = "fired"
AUTOMATION_OFF = "automation_off"
RULE_OFF = "rule_off"
CONDITION_FALSE = "condition_false"
ALREADY_FIRED = "already_fired"
DEPTH_LIMIT = "depth_limit"
UNKNOWN_CUSTOMER = "unknown_customer"


@dataclass(frozen=True)
class Trigger:
    """What a rule answers: an event (or the daily schedule), the fact it stands for, and how
    deep in a chain of rule actions it is."""

    type: str
    event_id: str | None
    time: datetime
    fact_key: str
    depth: int = 1
    data: Mapping[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        """The `trigger` of `automation.action_requested`."""
        return {
            "event_id": self.event_id or self.fact_key,
            "type": self.type,
            "time": self.time.isoformat(),
        }


def chained_trigger(
    session: Session,
    event_type: str,
    event_id: str,
    time: datetime,
    customer_id: uuid.UUID,
    reason: str | None,
    own_fact_key: str,
    data: Mapping[str, Any],
) -> Trigger:
    """The trigger of a customers event: when a rule caused it (`reason: rule:<id>`), it carries
    on the chain that rule's action belonged to (its fact, one level deeper)."""
    if reason and reason.startswith("rule:"):
        request = session.scalars(
            select(ActionRequest)
            .where(
                ActionRequest.rule_id == reason.removeprefix("rule:"),
                ActionRequest.customer_id == customer_id,
            )
            .order_by(ActionRequest.id.desc())
            .limit(1)
        ).first()
        if request is not None:
            return Trigger(event_type, event_id, time, request.fact_key, request.depth + 1, data)
    return Trigger(event_type, event_id, time, own_fact_key, 1, data)


def current_settings(session: Session) -> AutomationSettings:
    """The global settings row."""
    settings = session.get(AutomationSettings, SETTINGS_ID)
    if settings is None:
        # The migrations seed it; a database emptied since gets the defaults back.
        from services.automation.defaults import seed_defaults

        seed_defaults(session)
        settings = session.get(AutomationSettings, SETTINGS_ID)
        assert settings is not None
    return settings


def rules_for(session: Session, trigger_type: str) -> list[Rule]:
    """The rules a trigger type starts, built-in ones first."""
    return list(
        session.scalars(
            select(Rule)
            .where(Rule.trigger == trigger_type)
            .order_by(Rule.builtin.desc(), Rule.created_at, Rule.id)
        )
    )


def ensure_customer_known(
    session: Session, facts: CustomerFacts, directory: Directory | None
) -> bool:
    """The facts hold the customer's state from customers, asking customers when they do not
    yet (read your writes); False when customers does not know them or cannot say."""
    if facts.known:
        return not facts.deleted
    if directory is None:
        return False
    try:
        state = directory.customer(facts.customer_id)
    except ServiceUnavailable as exc:
        log.warning(
            "customer unknown and customers unavailable",
            extra={"customer_id": str(facts.customer_id), "error": str(exc)},
        )
        return False
    if state is None:
        return False
    # The answer is customers' state now; older than any status event still to come.
    record_customer(session, facts.customer_id, state, facts.status_at or facts.since)
    return True


def decide(
    uow: UnitOfWork,
    facts: CustomerFacts,
    trigger: Trigger,
    directory: Directory | None = None,
    now: datetime | None = None,
) -> list[Decision]:
    """Evaluate every rule `trigger` starts for this customer; their decisions."""
    session = uow.session
    rules = rules_for(session, trigger.type)
    if not rules:
        return []
    settings = current_settings(session)
    known = ensure_customer_known(session, facts, directory)
    view = facts_of(session, facts, trigger.data, now)
    decisions = []
    for rule in rules:
        results = evaluate(rule.conditions, view, trigger.type)
        if not settings.enabled:
            outcome = AUTOMATION_OFF
        elif not rule.enabled:
            outcome = RULE_OFF
        elif trigger.depth > MAX_DEPTH:
            outcome = DEPTH_LIMIT
        elif not known:
            outcome = UNKNOWN_CUSTOMER
        elif not holds(results):
            outcome = CONDITION_FALSE
        elif not _first_firing(session, rule.id, facts.customer_id, trigger.fact_key):
            outcome = ALREADY_FIRED
        else:
            outcome = FIRED
            request_actions(uow, rule, facts.customer_id, trigger)
        decision = Decision(
            customer_id=facts.customer_id,
            rule_id=rule.id,
            rule_version=rule.version,
            trigger_event_id=trigger.event_id,
            trigger_type=trigger.type,
            trigger_time=trigger.time,
            fact_key=trigger.fact_key,
            depth=trigger.depth,
            outcome=outcome,
            fired=outcome == FIRED,
            conditions=[result.as_json() for result in results],
            actions=list(rule.actions) if outcome == FIRED else [],
            evaluated_at=now or utcnow(),
        )
        session.add(decision)
        decisions.append(decision)
    return decisions


def _first_firing(session: Session, rule_id: str, customer_id: uuid.UUID, fact_key: str) -> bool:
    """Note that the rule fires for this customer on this fact; False if it already did."""
    inserted = session.execute(
        insert_for(session, Firing)
        .values(rule_id=rule_id, customer_id=customer_id, fact_key=fact_key, fired_at=utcnow())
        .on_conflict_do_nothing()
        .returning(Firing.rule_id)
    ).first()
    return inserted is not None


def request_actions(uow: UnitOfWork, rule: Rule, customer_id: uuid.UUID, trigger: Trigger) -> None:
    """One `automation.action_requested` per action, and the chain they continue."""
    for action in rule.actions:
        uow.emit(
            ACTION_REQUESTED,
            action_data(customer_id, rule.id, action, trigger),
            subject=str(customer_id),
        )
    uow.session.add(
        ActionRequest(
            rule_id=rule.id,
            customer_id=customer_id,
            depth=trigger.depth,
            fact_key=trigger.fact_key,
            requested_at=utcnow(),
        )
    )


def action_data(
    customer_id: uuid.UUID, rule_id: str, action: Mapping[str, Any], trigger: Trigger
) -> dict[str, Any]:
    """The data of `automation.action_requested`."""
    return {
        "customer_id": str(customer_id),
        "rule_id": rule_id,
        "action": plain(dict(action)),
        "trigger": trigger.as_json(),
        "depth": trigger.depth,
    }


def decisions_json(decisions: Sequence[Decision]) -> list[dict[str, Any]]:
    """Decisions as the API answers them."""
    return [decision_json(decision) for decision in decisions]


def decision_json(decision: Decision) -> dict[str, Any]:
    """One decision as the API answers it."""
    return {
        "id": decision.id,
        "customer_id": str(decision.customer_id),
        "rule_id": decision.rule_id,
        "rule_version": decision.rule_version,
        "trigger": {
            "type": decision.trigger_type,
            "event_id": decision.trigger_event_id,
            "time": decision.trigger_time,
            "fact": decision.fact_key,
            "depth": decision.depth,
        },
        "outcome": decision.outcome,
        "fired": decision.fired,
        "conditions": decision.conditions,
        "actions": decision.actions,
        "evaluated_at": decision.evaluated_at,
    }
