"""The audit of authentication: a row per event in the service's database, and a log line.

Neither ever holds a password, a token or a hash.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.orm import Session

from services.registration.models import AuthEvent
from shared.db import utcnow

log = logging.getLogger("crm.registration.auth")

LOGIN_SUCCEEDED = "login_succeeded"
LOGIN_FAILED = "login_failed"
LOGIN_REFUSED = "login_refused"  # right password, but the account may not log in
LOCKED_OUT = "locked_out"
PASSWORD_CHANGED = "password_changed"
CREDENTIALS_GENERATED = "credentials_generated"
IMPERSONATED = "impersonated"
REFRESH_REUSED = "refresh_token_reused"
DEVICE_CONFIRMATION_REQUESTED = "device_confirmation_requested"
DEVICE_CONFIRMED = "device_confirmed"
DEVICE_REVOKED = "device_revoked"
SIGNUP_DUPLICATE = "signup_duplicate"
LOGIN_DISABLED = "login_disabled"
LOGIN_ENABLED = "login_enabled"


def audit(
    session: Session,
    type: str,
    account_id: uuid.UUID | None = None,
    *,
    actor: str | None = None,
    ip: str | None = None,
    device_id: str | None = None,
    detail: str | None = None,
) -> None:
    """Record one authentication event in this transaction, and log it."""
    session.add(
        AuthEvent(
            at=utcnow(),
            type=type,
            account_id=account_id,
            actor=actor,
            ip=ip,
            device_id=device_id,
            detail=detail[:2000] if detail else None,
        )
    )
    log_event(type, account_id, actor=actor, ip=ip, device_id=device_id)


def log_event(
    type: str,
    account_id: uuid.UUID | None = None,
    *,
    actor: str | None = None,
    ip: str | None = None,
    device_id: str | None = None,
) -> None:
    """The log line of an authentication event (its row is written by the caller)."""
    if not log.isEnabledFor(logging.INFO):
        return
    log.info(
        "auth event",
        extra={
            "auth_event": type,
            "account_id": str(account_id) if account_id else None,
            "actor": actor,
            "ip": ip,
            "device_id": device_id,
        },
    )
