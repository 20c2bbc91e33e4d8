"""The automation service's use cases: settings, rules, the decisions log, the events door."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.automation import rulebook
from services.automation.directory import Directory
from services.automation.errors import BuiltinRuleProtected, InvalidRule, RuleNotFound
from services.automation.facts import note_status, note_tag
from services.automation.models import AutomationSettings, Decision, KnownStatus, KnownTag, Rule
from services.automation.rules import grammar
from services.automation.rules.builtin import INACTIVITY, inactivity_conditions
from shared.db import UnitOfWork, utcnow

Precondition = Callable[[Any], None]
"""Checked on the locked row before a change (If-Match); raises to refuse."""

RULE_FIELDS = ("name", "enabled", "trigger", "conditions", "actions")


# --- settings -----------------------------------------------------------------------------------
def get_settings(sessions: sessionmaker[Session]) -> AutomationSettings:
    """The global settings."""
    with sessions() as session:
        return rulebook.current_settings(session)


def update_settings(
    uow: UnitOfWork, changes: Mapping[str, Any], precondition: Precondition | None = None
) -> AutomationSettings:
    """Switch automation on or off, change the inactivity period (the inactivity rule follows)."""
    with uow:
        settings = uow.session.get(AutomationSettings, 1, with_for_update=True)
        assert settings is not None
        if precondition is not None:
            precondition(settings)
        changed = False
        for name in ("enabled", "inactivity_days"):
            if name in changes and getattr(settings, name) != changes[name]:
                setattr(settings, name, changes[name])
                changed = True
        if "inactivity_days" in changes:
            rule = uow.session.get(Rule, INACTIVITY, with_for_update=True)
            conditions = inactivity_conditions(changes["inactivity_days"])
            if rule is not None and rule.conditions != conditions:
                rule.conditions = conditions
                rule.version += 1
                rule.updated_at = utcnow()
        if changed:
            settings.version += 1
            settings.updated_at = utcnow()
        uow.commit()
    return settings


# --- rules --------------------------------------------------------------------------------------
def list_rules(sessions: sessionmaker[Session]) -> list[Rule]:
    """Every rule, built-in ones first, then by creation."""
    with sessions() as session:
        return list(
            session.scalars(select(Rule).order_by(Rule.builtin.desc(), Rule.created_at, Rule.id))
        )


def get_rule(sessions: sessionmaker[Session], rule_id: str) -> Rule:
    """One rule; RuleNotFound."""
    with sessions() as session:
        rule = session.get(Rule, rule_id)
    if rule is None:
        raise RuleNotFound(rule_id)
    return rule


def create_rule(uow: UnitOfWork, body: Mapping[str, Any], directory: Directory) -> Rule:
    """A custom rule, validated against the grammar and the known statuses and tags;
    InvalidRule (422 naming the field), ServiceUnavailable when an owner cannot say."""
    validate_rule(uow, body["trigger"], body["conditions"], body["actions"], directory)
    now = utcnow()
    rule = Rule(
        id=str(uuid.uuid4()),
        name=body["name"],
        builtin=False,
        enabled=body.get("enabled", True),
        trigger=body["trigger"],
        conditions=body["conditions"],
        actions=body["actions"],
        version=1,
        created_at=now,
        updated_at=now,
    )
    with uow:
        uow.session.add(rule)
        uow.commit()
    return rule


def update_rule(
    uow: UnitOfWork,
    rule_id: str,
    changes: Mapping[str, Any],
    directory: Directory,
    precondition: Precondition | None = None,
) -> Rule:
    """Change a rule (a built-in one: only `enabled`); a real change makes a new version."""
    with uow:
        current = uow.session.get(Rule, rule_id)
        if current is None:
            raise RuleNotFound(rule_id)
        builtin = current.builtin
        saved = {name: getattr(current, name) for name in ("trigger", "conditions", "actions")}
    if builtin and set(changes) - {"enabled"}:
        raise BuiltinRuleProtected(
            f"{rule_id!r} is a built-in rule: it can be switched on and off (`enabled`), "
            "nothing else"
        )
    if set(changes) & set(saved):
        merged = {**saved, **changes}
        validate_rule(uow, merged["trigger"], merged["conditions"], merged["actions"], directory)
    with uow:
        rule = uow.session.get(Rule, rule_id, with_for_update=True)
        if rule is None:
            raise RuleNotFound(rule_id)
        if precondition is not None:
            precondition(rule)
        changed = False
        for name in RULE_FIELDS:
            if name in changes and getattr(rule, name) != changes[name]:
                setattr(rule, name, changes[name])
                changed = True
        if changed:
            rule.version += 1
            rule.updated_at = utcnow()
        uow.commit()
    return rule


def delete_rule(uow: UnitOfWork, rule_id: str, precondition: Precondition | None = None) -> None:
    """Delete a custom rule (its decisions stay in the log); built-in ones are 409."""
    with uow:
        rule = uow.session.get(Rule, rule_id, with_for_update=True)
        if rule is None:
            raise RuleNotFound(rule_id)
        if precondition is not None:
            precondition(rule)
        if rule.builtin:
            raise BuiltinRuleProtected(
                f"{rule_id!r} is a built-in rule: it cannot be deleted, only switched off"
            )
        uow.session.delete(rule)
        uow.commit()


def validate_rule(
    uow: UnitOfWork, trigger: Any, conditions: Any, actions: Any, directory: Directory
) -> None:
    """InvalidRule naming each bad field; a status or tag the projections do not know is asked
    of its owner first (read your writes)."""
    known = _KnownNames(uow, directory)
    errors: dict[str, Any] = {}
    if trigger_problems := grammar.trigger_errors(trigger):
        errors["trigger"] = trigger_problems
    valid_trigger = trigger if not trigger_problems else None
    if problems := grammar.condition_errors(conditions, valid_trigger, known.status, known.tags):
        errors["conditions"] = problems
    if action_problems := grammar.action_errors(actions, known.status, known.tags):
        errors["actions"] = action_problems
    if errors:
        raise InvalidRule(errors)


class _KnownNames:
    """Statuses and tags as the projections know them, the owners asked for the others (each
    answer projected, as its event would have been)."""

    def __init__(self, uow: UnitOfWork, directory: Directory) -> None:
        self.uow = uow
        self.directory = directory

    def status(self, key: str) -> bool:
        with self.uow:
            if self.uow.session.get(KnownStatus, key) is not None:
                return True
        if not self.directory.status_exists(key):
            return False
        with self.uow:
            note_status(self.uow.session, key)
            self.uow.commit()
        return True

    def tags(self, ids: Collection[uuid.UUID]) -> Collection[uuid.UUID]:
        wanted = list(dict.fromkeys(ids))
        with self.uow:
            found = set(
                self.uow.session.scalars(select(KnownTag.id).where(KnownTag.id.in_(wanted)))
            )
        missing = [tag for tag in wanted if tag not in found]
        if missing:
            answers = self.directory.tags(missing)
            if answers:
                with self.uow:
                    for tag_id, name in answers.items():
                        note_tag(self.uow.session, tag_id, name)
                    self.uow.commit()
            found |= set(answers)
        return found


# --- decisions ----------------------------------------------------------------------------------
def list_decisions(
    sessions: sessionmaker[Session], customer_id: uuid.UUID, limit: int, before: int | None
) -> tuple[list[Decision], int | None]:
    """A customer's decisions, newest first, a page at a time; where the next page starts."""
    statement = select(Decision).where(Decision.customer_id == customer_id)
    if before is not None:
        statement = statement.where(Decision.id < before)
    with sessions() as session:
        rows = list(session.scalars(statement.order_by(Decision.id.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    return rows[:limit], rows[limit - 1].id
