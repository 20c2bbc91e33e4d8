"""The rules and the main switch, held by the worker between batches and read again only when
they changed: marks returned by the statement that locks a run's facts (else one short
statement of their own) tell whether they did.

On PostgreSQL every committed insert or update of a row gives it a new `xmin` (the id of the
transaction that wrote it; ids are unique across the server's databases), and a deleted rule
leaves the list: the ids and `xmin`s of the settings row and of every rule say whether anything
changed since they were read. A rule changed, created, deleted or switched, or the main switch
turned, applies from the next batch on. Elsewhere (SQLite) they are read for every batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.automation.models import SETTINGS_ID, AutomationSettings, Rule
from services.automation.rules.grammar import field_kind


@dataclass(frozen=True)
class RuleSnapshot:
    """A rule as it was read: what evaluating it and logging its decisions need."""

    id: str
    version: int
    enabled: bool
    trigger: str
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]


AnyRule = Rule | RuleSnapshot
"""A rule as the session holds it, or as the worker keeps it between batches."""


@dataclass(frozen=True)
class Book:
    """Every rule by trigger (built-in ones first, then by creation), and the main switch."""

    enabled: bool
    rules: dict[str, tuple[RuleSnapshot, ...]]


MARKS = (
    f"(SELECT CAST(xmin AS text) FROM automation_settings WHERE id = {SETTINGS_ID})"
    " AS settings_mark,"
    " (SELECT string_agg(id || ':' || CAST(xmin AS text), ',' ORDER BY id) FROM rules)"
    " AS rules_mark"
)
"""The columns that fingerprint the settings row and the rules (any statement may return them:
`facts_rows.lock_rows` does, and leaves them in `session.info[MARK]` for `RuleBook.read`)."""
MARK = "automation.rules_mark"
_FINGERPRINT = text(f"SELECT {MARKS}")


class RuleBook:
    """The rules of one database at a time, read again when their fingerprint changes."""

    def __init__(self) -> None:
        self._key: tuple[str, Any] | None = None
        self._book: Book | None = None
        self._transaction: Any = None  # the one the book was last checked in

    def read(self, session: Session) -> Book:
        """The rules and the switch as committed now: at most one statement when unchanged,
        none when checked already in this transaction (a batch's runs of several types)."""
        transaction = session.get_transaction()
        if self._book is not None and transaction is not None and transaction is self._transaction:
            return self._book
        self._transaction = transaction
        bind = session.get_bind()
        key: tuple[str, Any] | None = None
        if bind.dialect.name == "postgresql":
            # Returned by this transaction's last statement locking facts, or read now.
            mark = session.info.pop(MARK, None) or tuple(session.execute(_FINGERPRINT).one())
            key = (str(bind.engine.url), mark)
            if key == self._key and self._book is not None:
                return self._book
        settings = current_settings(session)
        if key is not None and key[1][0] is None:
            key = None  # the settings row was missing (seeded now): fingerprint again next time
        rules: dict[str, list[RuleSnapshot]] = defaultdict(list)
        for rule in session.scalars(
            select(Rule).order_by(Rule.builtin.desc(), Rule.created_at, Rule.id)
        ):
            rules[rule.trigger].append(snapshot(rule))
        book = Book(settings.enabled, {trigger: tuple(found) for trigger, found in rules.items()})
        self._key, self._book = key, book
        return book


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


def snapshot(rule: Rule) -> RuleSnapshot:
    """A rule's values, detached from its session."""
    return RuleSnapshot(
        rule.id, rule.version, rule.enabled, rule.trigger, list(rule.conditions), list(rule.actions)
    )


def kinds_read(rules: Sequence[AnyRule], trigger: str) -> set[str]:
    """What the rules' conditions read (status, tags, revenue, counter, customer, event)."""
    return {
        kind
        for rule in rules
        for condition in rule.conditions
        if isinstance(condition, dict)
        and (kind := field_kind(condition.get("field"), trigger)) is not None
    }
