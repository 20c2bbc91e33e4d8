"""R2: sign-up, email validation, and the admin approval queue.

A sign-up creates the account (its id is the customer's id everywhere) and publishes
`registration.submitted`, from which customers creates the profile. Then, by the settings:
email validation required -> `pending_email` (and a link); approval required -> `pending_approval`
(the admins are told); otherwise `active` (`account.activated`). Validation `optional` lets the
customer in with `email_confirmed` false and sends the link all the same.
"""

from __future__ import annotations

import functools
import json
import uuid
from datetime import datetime
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.registration import options, throttle
from services.registration.audit import SIGNUP_DUPLICATE, audit
from services.registration.context import Registration, digest, new_secret
from services.registration.errors import (
    AccountNotFound,
    InvalidLinkToken,
    NotPendingApproval,
    TooManyAttempts,
)
from services.registration.login_state import publish_login_state, publishing_login_changes
from services.registration.models import (
    ACTIVE,
    EMAIL_PURPOSE,
    PENDING_APPROVAL,
    PENDING_EMAIL,
    REJECTED,
    Account,
    Device,
    LinkToken,
    RefreshToken,
)
from services.registration.passwords import check_policy
from shared.db import OutboxMessage, UnitOfWork, utcnow


@functools.lru_cache(maxsize=4096)
def email_key(email: str) -> str:
    """The form two addresses share when they differ only by case (one account per address).

    Remembered for the latest addresses: a pure function, and its validation is a tenth of a
    login's Python besides the hash."""
    try:
        normalized = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError:
        normalized = email.strip()
    return normalized.casefold()


def initial_status(settings: dict[str, Any], kind: str) -> str:
    """Where a new sign-up starts, by the settings."""
    if settings["email_validation"] == "required":
        return PENDING_EMAIL
    return after_email(settings, kind)


def after_email(settings: dict[str, Any], kind: str) -> str:
    """Where an account goes once its email no longer holds it back."""
    return PENDING_APPROVAL if options.approval_required(settings, kind) else ACTIVE


def throttle_by_address(
    registration: Registration, bucket: str, address: str, limit_name: str
) -> None:
    """Count this attempt from `address`; TooManyAttempts when its window is full."""
    limit = getattr(registration.config, limit_name)
    now = utcnow()
    with registration.uow() as uow:
        wait = throttle.window_wait(uow.session, bucket, address, limit, now)
        if wait is not None:
            raise TooManyAttempts(wait)
        throttle.record(uow.session, bucket, address, now)
        uow.commit()


def sign_up(registration: Registration, body: dict[str, Any], address: str) -> dict[str, Any]:
    """Create an account (`registration.submitted` and what the settings ask); `{customer_id,
    status}`. A taken email is answered the same way, with an id that exists nowhere."""
    throttle_by_address(registration, throttle.SIGNUP_IP, address, "signups_per_ip")
    check_policy(body["password"])
    # Hashed before anything else, taken email or not: both answers cost the same time.
    password_hash = registration.hashing.hash(body["password"])
    key = email_key(body["email"])
    with registration.uow() as uow:
        settings = options.current(uow.session)
        status = initial_status(settings, body["kind"])
        taken = uow.session.scalar(select(Account.id).where(Account.email_key == key))
        if taken is not None:
            return _pretend(uow, taken, status, address)
        now = utcnow()
        account = Account(
            id=uuid.uuid4(),
            email=body["email"],
            email_key=key,
            kind=body["kind"],
            first_name=body.get("first_name"),
            last_name=body.get("last_name"),
            company_name=body.get("company_name"),
            language=body.get("language"),
            status=status,
            login_enabled=True,
            email_confirmed=False,
            password_hash=password_hash,
            must_change_password=False,
            signup_device_id=body.get("device_id"),
            created_at=now,
            updated_at=now,
            password_changed_at=now,
        )
        try:
            with uow.session.begin_nested():
                uow.session.add(account)
        except IntegrityError:  # the same email signed up at the same moment
            return _pretend(uow, None, status, address)
        subject = str(account.id)
        uow.emit(
            "registration.submitted",
            {
                "customer_id": subject,
                "email": account.email,
                "kind": account.kind,
                "status": status,
                "first_name": account.first_name,
                "last_name": account.last_name,
                "company_name": account.company_name,
                "language": account.language,
                "signup_notification": bool(settings["signup_notification"]),
            },
            subject=subject,
        )
        if settings["email_validation"] != "none":
            request_email_confirmation(registration, uow, account, now)
        if status == ACTIVE:
            uow.emit("account.activated", {"customer_id": subject}, subject=subject)
        publish_login_state(uow, account)
        uow.commit()
    return {"customer_id": account.id, "status": status}


def _pretend(uow: UnitOfWork, taken: uuid.UUID | None, status: str, address: str) -> dict[str, Any]:
    audit(uow.session, SIGNUP_DUPLICATE, taken, ip=address)
    uow.commit()
    return {"customer_id": uuid.uuid4(), "status": status}


def new_link(
    registration: Registration,
    session: Session,
    account_id: uuid.UUID,
    purpose: str,
    now: datetime,
    device_id: str | None = None,
) -> str:
    """A single-use link token for this account and purpose; the link that carries it."""
    config = registration.config
    token, token_hash = new_secret()
    ttl = config.email_link_ttl if purpose == EMAIL_PURPOSE else config.device_link_ttl
    session.add(
        LinkToken(
            token_hash=token_hash,
            account_id=account_id,
            purpose=purpose,
            device_id=device_id,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    page = "email-confirmation" if purpose == EMAIL_PURPOSE else "device-confirmation"
    return f"{config.link_base_url}/registration/{page}?token={token}"


def request_email_confirmation(
    registration: Registration, uow: UnitOfWork, account: Account, now: datetime
) -> None:
    """A new email-validation link (`registration.email_confirmation_requested`)."""
    link = new_link(registration, uow.session, account.id, EMAIL_PURPOSE, now)
    uow.emit(
        "registration.email_confirmation_requested",
        {"customer_id": str(account.id), "link": link},
        subject=str(account.id),
    )


def use_link(session: Session, token: str, purpose: str, now: datetime) -> LinkToken:
    """The link token, now used; InvalidLinkToken when unknown, used, expired or another's."""
    link = session.scalars(
        select(LinkToken).where(LinkToken.token_hash == digest(token)).with_for_update()
    ).first()
    if link is None or link.purpose != purpose or link.used_at is not None:
        raise InvalidLinkToken()
    if link.expires_at <= now:
        raise InvalidLinkToken()
    link.used_at = now
    return link


def confirm_email(registration: Registration, token: str, address: str) -> dict[str, Any]:
    """Follow an email-validation link: the email is confirmed, and the account moves on."""
    throttle_by_address(registration, throttle.CONFIRMATION_IP, address, "confirmations_per_ip")
    now = utcnow()
    with registration.uow() as uow:
        link = use_link(uow.session, token, EMAIL_PURPOSE, now)
        account = _locked(uow.session, link.account_id)
        settings = options.current(uow.session)
        subject = str(account.id)
        with publishing_login_changes(uow, account):
            account.email_confirmed = True
            account.updated_at = now
            if account.status == PENDING_EMAIL:
                account.status = after_email(settings, account.kind)
                if account.status == PENDING_APPROVAL:
                    uow.emit("registration.approval_requested", _contact(account), subject=subject)
                else:
                    uow.emit("account.activated", {"customer_id": subject}, subject=subject)
        if account.signup_device_id:
            # The device that signed up followed the mail's link (or shares its inbox).
            _confirm_device(uow.session, account.id, account.signup_device_id, now)
        uow.commit()
    return {"customer_id": account.id, "status": account.status, "email_confirmed": True}


def _confirm_device(session: Session, account_id: uuid.UUID, device_id: str, now: datetime) -> None:
    device = session.get(Device, (account_id, device_id))
    if device is None:
        session.add(
            Device(
                account_id=account_id,
                device_id=device_id,
                confirmed_at=now,
                first_seen_at=now,
                last_seen_at=now,
            )
        )
    elif device.confirmed_at is None or device.revoked_at is not None:
        device.confirmed_at, device.revoked_at = now, None


def _contact(account: Account) -> dict[str, Any]:
    return {
        "customer_id": str(account.id),
        "email": account.email,
        "kind": account.kind,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "company_name": account.company_name,
        "language": account.language,
    }


def _locked(session: Session, account_id: uuid.UUID) -> Account:
    account = session.scalars(
        select(Account).where(Account.id == account_id).with_for_update()
    ).first()
    if account is None:
        raise AccountNotFound(account_id)
    return account


# --- approval queue -----------------------------------------------------------------------------
def list_signups(
    registration: Registration,
    status: str | None,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> tuple[list[Account], tuple[datetime, uuid.UUID] | None]:
    """Sign-ups oldest first, maybe of one status; the next page's key."""
    stmt = select(Account).order_by(Account.created_at, Account.id)
    if status is not None:
        stmt = stmt.where(Account.status == status)
    if after is not None:
        stmt = stmt.where(
            (Account.created_at > after[0])
            | ((Account.created_at == after[0]) & (Account.id > after[1]))
        )
    with registration.reads() as session:
        rows = list(session.scalars(stmt.limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], (last.created_at, last.id)


def approve(registration: Registration, account_id: uuid.UUID, actor: str) -> Account:
    """Approve a waiting sign-up: active (`registration.approved`, `account.activated`)."""
    with registration.uow() as uow:
        account = _locked(uow.session, account_id)
        if account.status != PENDING_APPROVAL:
            raise NotPendingApproval(account.status)
        account.status, account.updated_at = ACTIVE, utcnow()
        subject = str(account.id)
        uow.emit("registration.approved", {"customer_id": subject}, subject=subject)
        uow.emit("account.activated", {"customer_id": subject}, subject=subject)
        publish_login_state(uow, account)
        uow.commit()
    return account


def reject(
    registration: Registration, account_id: uuid.UUID, reason: str | None, actor: str
) -> Account:
    """Reject a waiting sign-up, with a reason (`registration.rejected`); it cannot log in."""
    with registration.uow() as uow:
        account = _locked(uow.session, account_id)
        if account.status != PENDING_APPROVAL:
            raise NotPendingApproval(account.status)
        now = utcnow()
        account.status, account.rejection_reason, account.updated_at = REJECTED, reason, now
        uow.session.execute(
            update(RefreshToken)
            .where(RefreshToken.account_id == account.id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        subject = str(account.id)
        uow.emit(
            "registration.rejected", {"customer_id": subject, "reason": reason}, subject=subject
        )
        publish_login_state(uow, account)
        uow.commit()
    return account


def submitted_event(registration: Registration, account_id: uuid.UUID) -> dict[str, Any]:
    """The `registration.submitted` a sign-up published, as it was published (the outbox keeps
    it a week): customers handles it before RabbitMQ brings it when a client reads the profile
    at once (read your writes). AccountNotFound for an id with no such event."""
    with registration.reads() as session:
        if session.get(Account, account_id) is None:
            raise AccountNotFound(account_id)
        payload = session.scalar(
            select(OutboxMessage.payload)
            .where(
                OutboxMessage.type == "registration.submitted",
                OutboxMessage.subject == str(account_id),
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
    if payload is None:
        raise AccountNotFound(account_id)
    event: dict[str, Any] = json.loads(payload)
    return event
