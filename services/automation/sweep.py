"""The daily rules, run by the worker's scheduled sweep: the built-in inactivity rule, set-based
(one query finds who is due, chunk by chunk), and custom `schedule.daily` rules.

A sweep is keyed by (rule, customer, day): run twice the same day, it changes nothing the second
time. Several workers may run it: on PostgreSQL an advisory lock lets one sweep at a time, the
others skip (and the firing key would stop a double firing anyway).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from services.automation import engine, rulebook
from services.automation.facts import Views, days_since, insert_for
from services.automation.models import ActionRequest, CustomerFacts, Decision, Firing, Rule
from services.automation.rules.builtin import DAYS_FIELD, INACTIVITY
from services.automation.rules.grammar import SCHEDULE_DAILY
from services.automation.rules.interpreter import evaluate, holds
from shared.db import UnitOfWork, UnitOfWorkFactory, utcnow

log = logging.getLogger(__name__)

SWEEP_LOCK = 0x43524D_4155_5357  # "CRM" "AU" "SW": one sweep at a time across workers
CHUNK = 5_000
INACTIVE_FROM = ("active", "vip")


def run_sweep(
    uow_factory: UnitOfWorkFactory,
    clock: Callable[[], datetime] = utcnow,
    chunk: int = CHUNK,
) -> int:
    """Every daily rule over every customer it is due for; how many rule firings."""
    now = clock()
    with _sweep_lock(uow_factory.session_factory) as acquired:
        if not acquired:
            log.info("sweep already running in another worker")
            return 0
        fired = sweep_inactivity(uow_factory, now, chunk)
        fired += sweep_daily_rules(uow_factory, now, chunk)
    if fired:
        log.info("sweep fired rules", extra={"fired": fired})
    return fired


class _sweep_lock:
    """A session-level advisory lock on PostgreSQL (held on its own connection for the sweep);
    SQLite runs one process, so nothing to take."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session = session_factory()
        self.postgres = self.session.get_bind().dialect.name == "postgresql"
        self.acquired = False

    def __enter__(self) -> bool:
        if not self.postgres:
            self.acquired = True
            return True
        self.acquired = bool(self.session.scalar(select(func.pg_try_advisory_lock(SWEEP_LOCK))))
        self.session.commit()
        return self.acquired

    def __exit__(self, *_exc: object) -> None:
        try:
            if self.postgres and self.acquired:
                self.session.scalar(select(func.pg_advisory_unlock(SWEEP_LOCK)))
                self.session.commit()
        finally:
            self.session.close()


def day_key(now: datetime) -> str:
    """The fact a daily sweep stands for: its day (UTC)."""
    return f"day:{now.date().isoformat()}"


def due_for_inactivity(
    now: datetime, days: int, after: uuid.UUID | None = None, limit: int | None = None
) -> Select[uuid.UUID, str | None, datetime]:
    """The selection of the inactivity rule: known, not deleted, active or VIP customers whose
    last interaction (or first appearance) is `days` old, not fired for today yet; in id order,
    from after `after`, `limit` of them."""
    last = func.coalesce(CustomerFacts.last_interaction_at, CustomerFacts.since)
    already = (
        select(Firing.customer_id)
        .where(
            Firing.rule_id == INACTIVITY,
            Firing.fact_key == day_key(now),
            Firing.customer_id == CustomerFacts.customer_id,
        )
        .exists()
    )
    statement = select(CustomerFacts.customer_id, CustomerFacts.status, last.label("last")).where(
        CustomerFacts.known.is_(True),
        CustomerFacts.deleted.is_(False),
        CustomerFacts.status.in_(INACTIVE_FROM),
        last <= now - timedelta(days=days),
        ~already,
    )
    if after is not None:
        statement = statement.where(CustomerFacts.customer_id > after)
    return statement.order_by(CustomerFacts.customer_id).limit(limit)


def sweep_inactivity(uow_factory: UnitOfWorkFactory, now: datetime, chunk: int = CHUNK) -> int:
    """Active and VIP customers without an interaction for `inactivity_days` become inactive:
    one query finds a chunk of them (not yet fired today), one transaction per chunk; the next
    chunk starts after the last id of the previous one (never a scan from the start again)."""
    fact = day_key(now)
    total, after = 0, None
    while True:
        with uow_factory() as uow:
            session = uow.session
            settings = rulebook.current_settings(session)
            rule = session.get(Rule, INACTIVITY)
            if rule is None or not settings.enabled or not rule.enabled:
                return total
            due = session.execute(
                due_for_inactivity(now, settings.inactivity_days, after, chunk)
            ).all()
            if not due:
                return total
            fired = _fire_many(uow, rule, settings.inactivity_days, due, fact, now)
            uow.commit()
        total += fired
        after = due[-1].customer_id


def _fire_many(
    uow: UnitOfWork, rule: Rule, days: int, due: Sequence[Any], fact: str, now: datetime
) -> int:
    """Fire the inactivity rule for these customers: firings, decisions, actions, in bulk."""
    session = uow.session
    inserted = set(
        session.scalars(
            insert_for(session, Firing).on_conflict_do_nothing().returning(Firing.customer_id),
            [
                {
                    "rule_id": rule.id,
                    "customer_id": row.customer_id,
                    "fact_key": fact,
                    "fired_at": now,
                }
                for row in due
            ],
        )
    )
    rows = [row for row in due if row.customer_id in inserted]
    if not rows:
        return 0
    trigger = engine.Trigger(SCHEDULE_DAILY, None, now, fact)
    session.execute(
        insert(Decision),
        [
            {
                "customer_id": row.customer_id,
                "rule_id": rule.id,
                "rule_version": rule.version,
                "trigger_event_id": None,
                "trigger_type": SCHEDULE_DAILY,
                "trigger_time": now,
                "fact_key": fact,
                "depth": 1,
                "outcome": engine.FIRED,
                "fired": True,
                "conditions": _inactivity_conditions(row, days, now),
                "actions": list(rule.actions),
                "evaluated_at": now,
            }
            for row in rows
        ],
    )
    uow.emit_many(
        engine.ACTION_REQUESTED,
        (
            (engine.action_data(row.customer_id, rule.id, action, trigger), str(row.customer_id))
            for row in rows
            for action in rule.actions
        ),
    )
    session.execute(
        insert(ActionRequest),
        [
            {
                "rule_id": rule.id,
                "customer_id": row.customer_id,
                "depth": 1,
                "fact_key": fact,
                "requested_at": now,
            }
            for row in rows
        ],
    )
    return len(rows)


def _inactivity_conditions(row: Any, days: int, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "field": "status",
            "op": "in",
            "expected": list(INACTIVE_FROM),
            "actual": row.status,
            "result": True,
        },
        {
            "field": DAYS_FIELD,
            "op": "gte",
            "expected": days,
            "actual": days_since(row.last, now),
            "result": True,
        },
    ]


def sweep_daily_rules(uow_factory: UnitOfWorkFactory, now: datetime, chunk: int = CHUNK) -> int:
    """Custom `schedule.daily` rules, evaluated by the interpreter over every known customer, a
    chunk per transaction; only firings are logged as decisions (not a million misses a day)."""
    fact = day_key(now)
    with uow_factory() as uow:
        enabled = rulebook.current_settings(uow.session).enabled
        rule_ids = [
            rule.id
            for rule in engine.rules_for(uow.session, SCHEDULE_DAILY)
            if rule.enabled and rule.id != INACTIVITY
        ]
    if not enabled or not rule_ids:
        return 0
    fired, after = 0, uuid.UUID(int=0)
    while True:
        with uow_factory() as uow:
            session = uow.session
            rules = [
                rule for rule in engine.rules_for(session, SCHEDULE_DAILY) if rule.id in rule_ids
            ]
            rows = list(
                session.scalars(
                    select(CustomerFacts)
                    .where(
                        CustomerFacts.customer_id > after,
                        CustomerFacts.known.is_(True),
                        CustomerFacts.deleted.is_(False),
                    )
                    .order_by(CustomerFacts.customer_id)
                    .limit(chunk)
                )
            )
            if not rows:
                return fired
            trigger = engine.Trigger(SCHEDULE_DAILY, None, now, fact)
            views = Views(session, [row.customer_id for row in rows])
            holding = [
                (row, rule, results)
                for row in rows
                for view in [views.of(row, None, now)]
                for rule in rules
                for results in [evaluate(rule.conditions, view, SCHEDULE_DAILY)]
                if holds(results)
            ]
            first = engine.first_firings(
                session, [(rule.id, row.customer_id, fact) for row, rule, _ in holding]
            )
            for row, rule, results in holding:
                if (rule.id, row.customer_id, fact) not in first:
                    continue  # fired today already
                engine.request_actions(uow, rule, row.customer_id, trigger)
                session.add(
                    Decision(
                        customer_id=row.customer_id,
                        rule_id=rule.id,
                        rule_version=rule.version,
                        trigger_event_id=None,
                        trigger_type=SCHEDULE_DAILY,
                        trigger_time=now,
                        fact_key=fact,
                        depth=1,
                        outcome=engine.FIRED,
                        fired=True,
                        conditions=[result.as_json() for result in results],
                        actions=list(rule.actions),
                        evaluated_at=now,
                    )
                )
                fired += 1
            after = rows[-1].customer_id
            uow.commit()
