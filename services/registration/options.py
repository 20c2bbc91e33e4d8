"""R1: the registration settings, one row, every change audited (who, when, old, new)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.registration.models import RegistrationSettings, SettingsChange
from shared.db import UnitOfWork, utcnow

DEFAULTS: dict[str, Any] = {
    "signup_notification": True,
    "admin_approval": "none",
    "new_device_confirmation": False,
    "email_validation": "required",
}
"""What applies until staff save the settings."""
FIELDS = tuple(DEFAULTS)
APPROVAL_MODES = ("none", "all", "companies")
VALIDATION_MODES = ("optional", "required", "none")


def current(session: Session) -> dict[str, Any]:
    """The settings in force (the defaults when none were saved)."""
    row = session.get(RegistrationSettings, 1)
    if row is None:
        return dict(DEFAULTS)
    return {name: getattr(row, name) for name in FIELDS}


def read_settings(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """The settings in force."""
    with sessions() as session:
        return current(session)


def save_settings(uow: UnitOfWork, values: dict[str, Any], actor: str) -> dict[str, Any]:
    """Replace the settings; a change is recorded with who made it and the old and new values."""
    with uow:
        row = uow.session.scalars(
            select(RegistrationSettings).where(RegistrationSettings.id == 1).with_for_update()
        ).first()
        old = {name: getattr(row, name) for name in FIELDS} if row else dict(DEFAULTS)
        new = {name: values[name] for name in FIELDS}
        if new != old:
            now = utcnow()
            if row is None:
                row = RegistrationSettings(id=1, version=0, **new)
                uow.session.add(row)
            for name, value in new.items():
                setattr(row, name, value)
            row.version += 1
            row.updated_at, row.updated_by = now, actor
            uow.session.add(SettingsChange(changed_at=now, actor=actor, old=old, new=new))
            uow.commit()
    return new


def list_changes(sessions: sessionmaker[Session], limit: int) -> list[SettingsChange]:
    """The latest changes, newest first."""
    with sessions() as session:
        return list(
            session.scalars(select(SettingsChange).order_by(SettingsChange.id.desc()).limit(limit))
        )


def approval_required(options: dict[str, Any], kind: str) -> bool:
    """Whether a sign-up of this kind waits for an admin."""
    mode = options["admin_approval"]
    return mode == "all" or (mode == "companies" and kind == "company")
