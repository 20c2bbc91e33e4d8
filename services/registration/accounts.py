"""Staff's side of accounts (R3, R4, R5): login on or off, passwords set or generated and
emailed, devices and their push tokens, and logging in as the customer (impersonation)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registration import audit as events
from services.registration import options
from services.registration.audit import audit
from services.registration.context import Registration
from services.registration.customer_accounts import reads_customers_writes
from services.registration.errors import AccountNotFound, AccountWithoutEmail, DeviceNotFound
from services.registration.login_state import publishing_login_changes
from services.registration.login_writes import customer_token
from services.registration.logins import keep_asking, revoke_refresh_tokens, set_password
from services.registration.models import Account, Device, RefreshToken
from services.registration.passwords import generate_password
from shared.auth import CUSTOMER, LIFETIME_CAPS
from shared.db import UnitOfWork, utcnow


def _locked(session: Session, account_id: uuid.UUID) -> Account:
    account = session.scalars(
        select(Account).where(Account.id == account_id).with_for_update()
    ).first()
    if account is None:
        raise AccountNotFound(account_id)
    return account


@reads_customers_writes
def get_account(registration: Registration, account_id: uuid.UUID) -> Account:
    """The account; AccountNotFound otherwise."""
    with registration.reads() as session:
        account = session.get(Account, account_id)
    if account is None:
        raise AccountNotFound(account_id)
    return account


@reads_customers_writes
def update_account(
    registration: Registration, account_id: uuid.UUID, changes: dict[str, Any], actor: str
) -> Account:
    """Turn login on or off, or set a password (refresh tokens revoked either way)."""
    now = utcnow()
    with registration.uow() as uow:
        account = _locked(uow.session, account_id)
        if "password" in changes:
            set_password(registration, uow.session, account, changes["password"], now)
            audit(uow.session, events.PASSWORD_CHANGED, account.id, actor=actor)
            _confirm_email_first(registration, uow, account, now)
        enabled = changes.get("login_enabled")
        if enabled is not None and enabled != account.login_enabled:
            with publishing_login_changes(uow, account):
                account.login_enabled = enabled
            if not enabled:
                revoke_refresh_tokens(uow.session, account.id, now)
            kind = events.LOGIN_ENABLED if enabled else events.LOGIN_DISABLED
            audit(uow.session, kind, account.id, actor=actor)
        account.updated_at = now
        uow.commit()
    return account


@reads_customers_writes
def generate_credentials(registration: Registration, account_id: uuid.UUID, actor: str) -> None:
    """A new random password, emailed once (`account.credentials_generated`); the customer
    must change it at first login, and its refresh tokens are revoked."""
    password = generate_password()
    now = utcnow()
    with registration.uow() as uow:
        account = _locked(uow.session, account_id)
        if account.email is None:
            raise AccountWithoutEmail()
        set_password(registration, uow.session, account, password, now)
        audit(uow.session, events.CREDENTIALS_GENERATED, account.id, actor=actor)
        _confirm_email_first(registration, uow, account, now)
        subject = str(account.id)
        uow.emit(
            "account.credentials_generated",
            {"customer_id": subject, "login": account.email, "password": password},
            subject=subject,
        )
        uow.commit()


def _confirm_email_first(
    registration: Registration, uow: UnitOfWork, account: Account, now: datetime
) -> None:
    """A login given to an account whose email was never confirmed (a customer staff created)
    while validation is required: without the link the customer could not log in, so it is
    sent (once until it expires)."""
    required = options.current(uow.session)["email_validation"] == "required"
    if required and account.email and not account.email_confirmed:
        keep_asking(registration, uow, account, now)


# --- devices ------------------------------------------------------------------------------------
@reads_customers_writes
def list_devices(registration: Registration, account_id: uuid.UUID) -> list[Device]:
    """The account's devices, most recently seen first."""
    with registration.reads() as session:
        if session.get(Account, account_id) is None:
            raise AccountNotFound(account_id)
        return list(
            session.scalars(
                select(Device)
                .where(Device.account_id == account_id)
                .order_by(Device.last_seen_at.desc(), Device.device_id)
            )
        )


def _confirmed_device(session: Session, account_id: uuid.UUID, device_id: str) -> Device:
    device = session.get(Device, (account_id, device_id), with_for_update=True)
    if device is None or device.confirmed_at is None or device.revoked_at is not None:
        raise DeviceNotFound(device_id)
    return device


def register_push_token(
    registration: Registration, account_id: uuid.UUID, device_id: str, token: str, platform: str
) -> Device:
    """A confirmed device's push token (`device.push_registered`)."""
    now = utcnow()
    with registration.uow() as uow:
        device = _confirmed_device(uow.session, account_id, device_id)
        device.push_token, device.push_platform, device.push_registered_at = token, platform, now
        subject = str(account_id)
        uow.emit(
            "device.push_registered",
            {"customer_id": subject, "device_id": device_id, "platform": platform},
            subject=subject,
        )
        uow.commit()
    return device


def revoke_push_token(
    registration: Registration, account_id: uuid.UUID, device_id: str, actor: str
) -> None:
    """Forget a device's push token (`device.push_revoked`); none: nothing happens."""
    with registration.uow() as uow:
        device = uow.session.get(Device, (account_id, device_id), with_for_update=True)
        if device is None:
            raise DeviceNotFound(device_id)
        if _drop_push(uow, device):
            uow.commit()


def _drop_push(uow: UnitOfWork, device: Device) -> bool:
    if device.push_token is None:
        return False
    device.push_token = device.push_platform = device.push_registered_at = None
    subject = str(device.account_id)
    uow.emit(
        "device.push_revoked",
        {"customer_id": subject, "device_id": device.device_id},
        subject=subject,
    )
    return True


def revoke_device(
    registration: Registration, account_id: uuid.UUID, device_id: str, actor: str
) -> None:
    """A device is no longer trusted: its push token and its refresh tokens go with it."""
    now = utcnow()
    with registration.uow() as uow:
        device = uow.session.get(Device, (account_id, device_id), with_for_update=True)
        if device is None:
            raise DeviceNotFound(device_id)
        _drop_push(uow, device)
        device.revoked_at = now
        uow.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.account_id == account_id,
                RefreshToken.device_id == device_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        audit(uow.session, events.DEVICE_REVOKED, account_id, actor=actor, device_id=device_id)
        uow.commit()


# --- impersonation ------------------------------------------------------------------------------
@reads_customers_writes
def impersonate(
    registration: Registration, account_id: uuid.UUID, actor: str, reason: str
) -> dict[str, Any]:
    """A short customer token that says who acts (`act`), audited and published
    (`account.impersonated`, for the customer's timeline)."""
    ttl = min(registration.config.impersonation_ttl, LIFETIME_CAPS[CUSTOMER], timedelta(minutes=15))
    now = utcnow()
    with registration.uow() as uow:
        account = uow.session.get(Account, account_id)
        if account is None:
            raise AccountNotFound(account_id)
        token = customer_token(registration, account_id, ttl, actor)
        expires_at: datetime = now + ttl
        audit(uow.session, events.IMPERSONATED, account_id, actor=actor, detail=reason)
        subject = str(account_id)
        uow.emit(
            "account.impersonated",
            {
                "customer_id": subject,
                "actor": actor,
                "reason": reason,
                "expires_at": expires_at.isoformat(),
            },
            subject=subject,
        )
        uow.commit()
    return {"access_token": token, "expires_at": expires_at}
