"""R3/R4: login, refresh-token rotation and revocation, password changes, new devices.

One generic refusal (401) for an unknown email, a wrong password, and an account that may not
log in (disabled, email not validated when required, not approved): the unknown email still pays
an Argon2 verification (of a dummy hash), so neither the answer nor its time tells them apart.
Failures are throttled per account (the email, known or not) and, looser, per client address.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.registration import audit as events
from services.registration import options, throttle
from services.registration.audit import audit
from services.registration.context import Registration, digest, new_secret
from services.registration.errors import (
    InvalidLinkToken,
    InvalidRefreshToken,
    LoginRefused,
    TooManyAttempts,
    WeakPassword,
)
from services.registration.login_writes import (
    Candidate,
    admit_known_device,
    read_candidate,
    token_answer,
)
from services.registration.models import (
    ACTIVE,
    DEVICE_PURPOSE,
    EMAIL_PURPOSE,
    Account,
    Device,
    LinkToken,
    RefreshToken,
)
from services.registration.passwords import check_policy
from services.registration.signups import (
    email_key,
    new_link,
    request_email_confirmation,
    throttle_by_address,
    use_link,
)
from shared.db import UnitOfWork, utcnow

DEVICE_CONFIRMATION_REQUIRED = "device_confirmation_required"
PASSWORD_CHANGE_REQUIRED = "password_change_required"


@dataclass(frozen=True)
class Attempt:
    """Who is trying to log in, from where."""

    email: str
    password: str
    device_id: str
    address: str


def may_log_in(account: Account, settings: dict[str, Any]) -> bool:
    """Enabled, active (validated and approved as the settings asked), not rejected."""
    if not account.login_enabled or account.status != ACTIVE:
        return False
    return account.email_confirmed or settings["email_validation"] != "required"


def revoke_refresh_tokens(session: Session, account_id: uuid.UUID, now: datetime) -> None:
    """Every refresh token of the account stops working (disabled, password changed...)."""
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _tokens(
    registration: Registration,
    session: Session,
    account: Account,
    device_id: str | None,
    now: datetime,
    family_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    refresh, refresh_hash = new_secret()
    session.add(
        RefreshToken(
            token_hash=refresh_hash,
            account_id=account.id,
            family_id=family_id or uuid.uuid4(),
            device_id=device_id,
            created_at=now,
            expires_at=now + registration.config.refresh_token_ttl,
        )
    )
    return token_answer(registration, account.id, account.email_confirmed, refresh)


# --- login --------------------------------------------------------------------------------------
def _check_throttle(registration: Registration, candidate: Candidate, address: str) -> int:
    """TooManyAttempts while the account or the address is locked out; else the account's
    failures in its window (none: a success has nothing to forget)."""
    account, by_address = candidate.account_lockout, candidate.address_lockout
    wait = max((w for w in (account.wait, by_address.wait) if w is not None), default=None)
    if wait is not None:
        with registration.uow() as uow:
            audit(uow.session, events.LOCKED_OUT, ip=address, detail=f"retry after {wait:.0f}s")
            uow.commit()
        raise TooManyAttempts(wait)
    return account.failures


@dataclass(frozen=True)
class Verified:
    """An account whose password was just verified, as read before the hash."""

    account_id: uuid.UUID
    password_hash: str
    failures: int
    """The account's failed logins in the throttle's window."""


def _authenticate(registration: Registration, attempt: Attempt) -> Verified:
    """The account whose password this is and its failures in the window, or LoginRefused
    after counting the failure. The throttle and the account are read in one statement,
    outside any transaction, before the hash."""
    key = email_key(attempt.email)
    # A place to hash first: in a storm, a login refused for want of one costs no query.
    with registration.hashing.reserved():
        candidate = read_candidate(registration, key, attempt.address, utcnow())
        failures = _check_throttle(registration, candidate, attempt.address)
        stored, account_id = candidate.password_hash, candidate.account_id
        if registration.hashing.verify(stored, attempt.password) and account_id is not None:
            assert stored is not None  # verify is False without a hash
            return Verified(account_id, stored, failures)
    now = utcnow()
    with registration.uow() as uow:
        throttle.record(uow.session, throttle.LOGIN_ACCOUNT, key, now)
        throttle.record(uow.session, throttle.LOGIN_IP, attempt.address, now)
        audit(
            uow.session,
            events.LOGIN_FAILED,
            account_id,
            ip=attempt.address,
            device_id=attempt.device_id,
        )
        uow.commit()
    raise LoginRefused()


def log_in(registration: Registration, attempt: Attempt) -> tuple[int, dict[str, Any]]:
    """200 with tokens; 202 when the device must be confirmed first or the password changed.

    The usual login (a known device, nothing to forget or rehash) writes in one statement
    (`login_writes`); any other, or one that statement turns down, takes `_admit`."""
    verified = _authenticate(registration, attempt)
    if not verified.failures and not registration.hashing.needs_rehash(verified.password_hash):
        answer = admit_known_device(
            registration, verified.account_id, attempt.device_id, attempt.address, utcnow()
        )
        if answer is not None:
            return 200, answer
    return _admit(
        registration,
        verified.account_id,
        attempt,
        check_must_change=True,
        failures=verified.failures,
    )


def _admit(
    registration: Registration,
    account_id: uuid.UUID,
    attempt: Attempt,
    check_must_change: bool,
    new_password_hash: str | None = None,
    failures: int = 1,
) -> tuple[int, dict[str, Any]]:
    """After the password was verified: the account's state, the device, then the tokens."""
    now = utcnow()
    with registration.uow() as uow:
        session = uow.session
        account = session.scalars(
            select(Account).where(Account.id == account_id).with_for_update()
        ).one()
        settings = options.current(session)
        if not may_log_in(account, settings):
            audit(session, events.LOGIN_REFUSED, account.id, ip=attempt.address)
            uow.commit()
            raise LoginRefused()
        if new_password_hash is not None:
            _set_password(session, account, new_password_hash, now, must_change=False)
            audit(
                session, events.PASSWORD_CHANGED, account.id, actor="customer", ip=attempt.address
            )
        elif account.password_hash and registration.hashing.needs_rehash(account.password_hash):
            account.password_hash = registration.hashing.hash(attempt.password)
        if check_must_change and account.must_change_password:
            audit(session, events.LOGIN_REFUSED, account.id, detail=PASSWORD_CHANGE_REQUIRED)
            uow.commit()
            return 202, {"status": PASSWORD_CHANGE_REQUIRED}
        if not _device_admitted(registration, uow, account, attempt.device_id, settings, now):
            uow.commit()
            return 202, {"status": DEVICE_CONFIRMATION_REQUIRED}
        if settings["email_validation"] == "optional" and not account.email_confirmed:
            keep_asking(registration, uow, account, now)
        if failures and account.email_key:
            throttle.forget(session, throttle.LOGIN_ACCOUNT, account.email_key)
        audit(
            session,
            events.LOGIN_SUCCEEDED,
            account.id,
            ip=attempt.address,
            device_id=attempt.device_id,
        )
        answer = _tokens(registration, session, account, attempt.device_id, now)
        uow.commit()
    return 200, answer


def _device_admitted(
    registration: Registration,
    uow: UnitOfWork,
    account: Account,
    device_id: str,
    settings: dict[str, Any],
    now: datetime,
) -> bool:
    """Record the device; with new-device confirmation on, a new one gets a link (False)."""
    session = uow.session
    device = session.get(Device, (account.id, device_id), with_for_update=True)
    if device is None:
        device = Device(account_id=account.id, device_id=device_id, first_seen_at=now)
        session.add(device)
    device.last_seen_at = now
    trusted = device.confirmed_at is not None and device.revoked_at is None
    if trusted:
        return True
    if not settings["new_device_confirmation"]:
        # Trusted by the settings of the day; turning confirmation on later keeps it trusted.
        device.confirmed_at, device.revoked_at = now, None
        return True
    link = new_link(registration, session, account.id, DEVICE_PURPOSE, now, device_id)
    subject = str(account.id)
    uow.emit(
        "device.confirmation_requested",
        {"customer_id": subject, "device_id": device_id, "link": link},
        subject=subject,
    )
    audit(session, events.DEVICE_CONFIRMATION_REQUESTED, account.id, device_id=device_id)
    return False


def keep_asking(
    registration: Registration, uow: UnitOfWork, account: Account, now: datetime
) -> None:
    """A customer who has not confirmed its email is sent a link, unless one is still valid
    (at most one a day): at login with validation `optional`, and when an operator gives a
    login to an account whose email was never confirmed."""
    pending = uow.session.scalar(
        select(LinkToken.token_hash).where(
            LinkToken.account_id == account.id,
            LinkToken.purpose == EMAIL_PURPOSE,
            LinkToken.used_at.is_(None),
            LinkToken.expires_at > now,
        )
    )
    if pending is None:
        request_email_confirmation(registration, uow, account, now)


def confirm_device(registration: Registration, token: str, address: str) -> dict[str, Any]:
    """Follow a device-confirmation link: the device is confirmed (`device.confirmed`)."""
    throttle_by_address(registration, throttle.CONFIRMATION_IP, address, "confirmations_per_ip")
    now = utcnow()
    with registration.uow() as uow:
        link = use_link(uow.session, token, DEVICE_PURPOSE, now)
        if link.device_id is None:
            raise InvalidLinkToken()
        device = uow.session.get(Device, (link.account_id, link.device_id), with_for_update=True)
        if device is None:
            raise InvalidLinkToken()
        device.confirmed_at, device.revoked_at, device.last_seen_at = now, None, now
        subject = str(link.account_id)
        uow.emit(
            "device.confirmed",
            {"customer_id": subject, "device_id": link.device_id},
            subject=subject,
        )
        audit(uow.session, events.DEVICE_CONFIRMED, link.account_id, device_id=link.device_id)
        uow.commit()
    return {"customer_id": link.account_id, "device_id": link.device_id, "status": "confirmed"}


# --- passwords ----------------------------------------------------------------------------------
def _set_password(
    session: Session, account: Account, password_hash: str, now: datetime, must_change: bool
) -> None:
    account.password_hash = password_hash
    account.must_change_password = must_change
    account.password_changed_at = account.updated_at = now
    revoke_refresh_tokens(session, account.id, now)


def change_password(
    registration: Registration, attempt: Attempt, new_password: str
) -> tuple[int, dict[str, Any]]:
    """The customer changes its password with the current one (required after a generated one);
    its refresh tokens are revoked, then it is logged in as by `log_in`."""
    check_policy(new_password, "new_password")
    if new_password == attempt.password:
        raise WeakPassword("the new password must differ from the current one", "new_password")
    verified = _authenticate(registration, attempt)
    new_hash = registration.hashing.hash(new_password)
    return _admit(
        registration,
        verified.account_id,
        attempt,
        check_must_change=False,
        new_password_hash=new_hash,
        failures=verified.failures,
    )


def set_password(
    registration: Registration, session: Session, account: Account, password: str, now: datetime
) -> None:
    """An operator's password: checked, hashed; the customer changes it at first login."""
    check_policy(password)
    _set_password(session, account, registration.hashing.hash(password), now, must_change=True)


# --- refresh tokens -----------------------------------------------------------------------------
def refresh(registration: Registration, token: str) -> dict[str, Any]:
    """A new access token and a new refresh token for a valid one, which is used up.

    A refresh token presented again after its rotation was copied: the whole family (every
    token of that login) is revoked, the thief's and the customer's.
    """
    now = utcnow()
    with registration.uow() as uow:
        session = uow.session
        row = session.scalars(
            select(RefreshToken).where(RefreshToken.token_hash == digest(token)).with_for_update()
        ).first()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            raise InvalidRefreshToken()
        if row.rotated_at is not None:
            session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            audit(session, events.REFRESH_REUSED, row.account_id, device_id=row.device_id)
            uow.commit()
            raise InvalidRefreshToken()
        account = session.get(Account, row.account_id)
        if account is None or not may_log_in(account, options.current(session)):
            raise InvalidRefreshToken()
        row.rotated_at = now
        answer = _tokens(registration, session, account, row.device_id, now, row.family_id)
        uow.commit()
    return answer


def revoke(registration: Registration, token: str) -> None:
    """Log out: this refresh token's family stops working (unknown tokens: nothing happens)."""
    now = utcnow()
    with registration.uow() as uow:
        row = uow.session.get(RefreshToken, digest(token))
        if row is not None:
            uow.session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            uow.commit()
