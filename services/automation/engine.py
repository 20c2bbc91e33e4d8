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

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from services.automation.decision_rows import log_decisions, write_decisions
from services.automation.directory import Directory
from services.automation.facts import Views, insert_for, record_customer
from services.automation.models import ActionRequest, CustomerFacts, Decision, Firing, Rule
from services.automation.rulebook import AnyRule, Book, current_settings, kinds_read
from services.automation.rules.interpreter import evaluate, holds, plain
from shared.db import OutboxItem, UnitOfWork, utcnow
from shared.logging import correlated
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
    correlationid: str | None = None

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
    correlationid: str | None = None,
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
            return Trigger(
                event_type, event_id, time, request.fact_key, request.depth + 1, data, correlationid
            )
    return Trigger(event_type, event_id, time, own_fact_key, 1, data, correlationid)


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


class Evaluation:
    """The rules one trigger type starts, evaluated for a run of its events at once.

    `add` evaluates every rule against the customer's facts as they stand at that event (the
    caller applies the run's events one by one); `finish` notes the firings of the whole run in
    one statement, logs every decision and requests the actions. Rules and settings are those
    of `book` (the worker's, checked once per batch), else read for this run.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        trigger_type: str,
        directory: Directory | None = None,
        now: datetime | None = None,
        book: Book | None = None,
    ) -> None:
        self.uow, self.directory, self.now = uow, directory, now
        self.rules: list[AnyRule] = []
        if book is not None:
            self.rules.extend(book.rules.get(trigger_type, ()))
            self.enabled = book.enabled
        else:
            self.rules.extend(rules_for(uow.session, trigger_type))
            self.enabled = current_settings(uow.session).enabled if self.rules else True
        self.reads = kinds_read(self.rules, trigger_type)
        """What the rules' conditions read: the views of tags or revenue are needed only then."""
        self._pending: list[tuple[CustomerFacts, Trigger, AnyRule, list[Any], str | None]] = []
        self._unknown: set[uuid.UUID] = set()  # customers nobody could tell about in this run

    def __bool__(self) -> bool:
        """Whether the trigger starts any rule (when not, nothing needs evaluating)."""
        return bool(self.rules)

    def add(self, facts: CustomerFacts, trigger: Trigger, views: Views) -> None:
        """Evaluate every rule for this customer's facts as they are now."""
        if not self.rules:
            return
        known = self._known(facts, views)
        view = views.of(facts, trigger.data, self.now)
        for rule in self.rules:
            results = evaluate(rule.conditions, view, trigger.type)
            outcome: str | None = None  # fires, unless it already did for this fact
            if not self.enabled:
                outcome = AUTOMATION_OFF
            elif not rule.enabled:
                outcome = RULE_OFF
            elif trigger.depth > MAX_DEPTH:
                outcome = DEPTH_LIMIT
            elif not known:
                outcome = UNKNOWN_CUSTOMER
            elif not holds(results):
                outcome = CONDITION_FALSE
            self._pending.append((facts, trigger, rule, results, outcome))

    def _known(self, facts: CustomerFacts, views: Views) -> bool:
        if facts.customer_id in self._unknown:
            return False
        was_known = facts.known
        known = ensure_customer_known(self.uow.session, facts, self.directory)
        if not known and not facts.known:
            self._unknown.add(facts.customer_id)
        if facts.known and not was_known:
            views.reload_tags(
                self.uow.session, facts.customer_id
            )  # their tags came with the answer
        return known

    def finish(self) -> int:
        """The run's decisions, logged; the actions of those that fired, requested (on
        PostgreSQL the firings, decisions and chains by one statement); how many decisions."""
        pending, self._pending = self._pending, []
        if not pending:
            return 0
        session = self.uow.session
        now = self.now or utcnow()
        rows = [
            {
                "customer_id": facts.customer_id,
                "rule_id": rule.id,
                "rule_version": rule.version,
                "trigger_event_id": trigger.event_id,
                "trigger_type": trigger.type,
                "trigger_time": trigger.time,
                "fact_key": trigger.fact_key,
                "depth": trigger.depth,
                "outcome": outcome,  # None: fires, unless it already did for this fact
                "fired": False,
                "conditions": [result.as_json() for result in results],
                "actions": list(rule.actions),  # logged only when it fires
                "evaluated_at": now,
            }
            for facts, trigger, rule, results, outcome in pending
        ]
        if session.get_bind().dialect.name == "postgresql":
            fired = log_decisions(session, rows, now)
        else:
            fired = _log_elsewhere(session, rows)
        actions: list[OutboxItem] = [
            (action_data(facts.customer_id, rule.id, action, trigger),
             str(facts.customer_id), trigger.correlationid)
            for index, (facts, trigger, rule, _, _) in enumerate(pending) if index in fired
            for action in rule.actions
        ]  # fmt: skip
        if actions:
            # Each under its own trigger's correlation id; the run's actions in one COPY.
            self.uow.emit_many(ACTION_REQUESTED, actions)
        return len(rows)


def _log_elsewhere(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """`log_decisions` off PostgreSQL: the firings noted, then the decisions and chains."""
    candidates = [row for row in rows if row["outcome"] is None]
    first = first_firings(
        session, [(r["rule_id"], r["customer_id"], r["fact_key"]) for r in candidates]
    )
    fired, chains = set(), []
    for index, row in enumerate(rows):
        if row["outcome"] is None:
            key = (row["rule_id"], row["customer_id"], row["fact_key"])
            row["outcome"] = FIRED if key in first else ALREADY_FIRED
            first.discard(key)  # the same fact twice in a run fires once
        row["fired"] = row["outcome"] == FIRED
        if row["fired"]:
            fired.add(index)
            chains.append(
                {name: row[name] for name in ("rule_id", "customer_id", "depth", "fact_key")}
                | {"requested_at": row["evaluated_at"]}
            )
        else:
            row["actions"] = []
    write_decisions(session, rows, chains)
    return fired


def first_firings(
    session: Session, keys: Sequence[tuple[str, uuid.UUID, str]]
) -> set[tuple[str, uuid.UUID, str]]:
    """Note that these rules fire for these customers on these facts, in one statement; the
    keys that had not fired yet."""
    unique = sorted(set(keys), key=lambda key: (key[0], str(key[1]), key[2]))
    if not unique:
        return set()
    now = utcnow()
    if session.get_bind().dialect.name == "postgresql":
        # The keys as one array per column: one short statement, no parameter per value.
        inserted = session.execute(
            _FIRINGS_UNNEST,
            {
                "rule_id": [rule_id for rule_id, _, _ in unique],
                "customer_id": [customer_id for _, customer_id, _ in unique],
                "fact_key": [fact for _, _, fact in unique],
                "fired_at": now,
            },
        )
        return {(row.rule_id, row.customer_id, row.fact_key) for row in inserted}
    inserted = session.execute(
        insert_for(session, Firing)
        .on_conflict_do_nothing()
        .returning(Firing.rule_id, Firing.customer_id, Firing.fact_key),
        [
            {"rule_id": rule_id, "customer_id": customer_id, "fact_key": fact, "fired_at": now}
            for rule_id, customer_id, fact in unique
        ],
    )
    return {(row.rule_id, row.customer_id, row.fact_key) for row in inserted}


_FIRINGS_UNNEST = text(
    "INSERT INTO rule_firings (rule_id, customer_id, fact_key, fired_at)"
    " SELECT rule_id, customer_id, fact_key, :fired_at FROM unnest("
    "CAST(:rule_id AS text[]), CAST(:customer_id AS uuid[]), CAST(:fact_key AS text[]))"
    " AS k(rule_id, customer_id, fact_key)"
    " ON CONFLICT DO NOTHING RETURNING rule_id, customer_id, fact_key"
)


def request_actions(
    uow: UnitOfWork, rule: AnyRule, customer_id: uuid.UUID, trigger: Trigger
) -> None:
    """One `automation.action_requested` per action, and the chain they continue."""
    emit_actions(uow, rule, customer_id, trigger)
    uow.session.execute(insert(ActionRequest), [chain_row(rule, customer_id, trigger)])


def emit_actions(uow: UnitOfWork, rule: AnyRule, customer_id: uuid.UUID, trigger: Trigger) -> None:
    """One `automation.action_requested` per action of the rule, under the trigger's
    correlation id."""
    with correlated(trigger.correlationid, "automation"):
        for action in rule.actions:
            uow.emit(
                ACTION_REQUESTED,
                action_data(customer_id, rule.id, action, trigger),
                subject=str(customer_id),
            )


def chain_row(rule: AnyRule, customer_id: uuid.UUID, trigger: Trigger) -> dict[str, Any]:
    """The `action_requests` row of a firing: the chain (fact, depth) its result continues."""
    return {
        "rule_id": rule.id,
        "customer_id": customer_id,
        "depth": trigger.depth,
        "fact_key": trigger.fact_key,
        "requested_at": utcnow(),
    }


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
