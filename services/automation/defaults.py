"""What a new automation database holds: the settings row, the built-in rules and the default
statuses (the migration seeds them; tests that empty the tables seed them again)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.automation.facts import insert_for
from services.automation.models import (
    DEFAULT_INACTIVITY_DAYS,
    SETTINGS_ID,
    AutomationSettings,
    KnownStatus,
    Rule,
)
from services.automation.rules.builtin import BUILTIN_RULES
from shared.db import utcnow

DEFAULT_STATUSES = ("lead", "prospect", "active", "vip", "inactive")
"""customers' default statuses (S1); custom ones are learnt from its events or asked of it."""


def seed_defaults(session: Session) -> None:
    """Insert the defaults that are missing (nothing is overwritten); the caller commits."""
    now = utcnow()
    session.execute(
        insert_for(session, AutomationSettings)
        .values(
            id=SETTINGS_ID,
            enabled=True,
            inactivity_days=DEFAULT_INACTIVITY_DAYS,
            version=1,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    for rule_id, rule in BUILTIN_RULES.items():
        session.execute(
            insert_for(session, Rule)
            .values(
                id=rule_id,
                builtin=True,
                enabled=True,
                version=1,
                created_at=now,
                updated_at=now,
                **rule,
            )
            .on_conflict_do_nothing()
        )
    for key in DEFAULT_STATUSES:
        session.execute(insert_for(session, KnownStatus).values(key=key).on_conflict_do_nothing())
