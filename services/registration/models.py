"""The registration service's tables: settings (audited), accounts, refresh tokens, devices,
link tokens (email and device confirmations), throttling hits and the authentication audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION, BigId, UtcDateTime, utcnow

EMAIL_MAX_LENGTH = 320
DEVICE_ID_MAX_LENGTH = 200
PUSH_TOKEN_MAX_LENGTH = 4096

PENDING_EMAIL, PENDING_APPROVAL, ACTIVE, REJECTED = (
    "pending_email",
    "pending_approval",
    "active",
    "rejected",
)
ACCOUNT_STATUSES = (PENDING_EMAIL, PENDING_APPROVAL, ACTIVE, REJECTED)

EMAIL_PURPOSE, DEVICE_PURPOSE = "email", "device"


class Base(DeclarativeBase):
    """The registration service's own tables (its database holds the outbox and inbox too)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RegistrationSettings(Base):
    """The one row of R1's options (absent until first saved: the defaults apply)."""

    __tablename__ = "settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    signup_notification: Mapped[bool] = mapped_column(Boolean)
    admin_approval: Mapped[str] = mapped_column(String(16))
    new_device_confirmation: Mapped[bool] = mapped_column(Boolean)
    email_validation: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(200))


class SettingsChange(Base):
    """Who changed the settings, when, from what to what."""

    __tablename__ = "settings_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    old: Mapped[dict[str, Any]] = mapped_column(JSON)
    new: Mapped[dict[str, Any]] = mapped_column(JSON)


class Account(Base):
    """A customer's login: its id is the customer's id in every service."""

    __tablename__ = "accounts"
    __table_args__ = (Index("ix_accounts_status_created_at_id", "status", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    # None for a customer staff created without an email (or with one another account has):
    # such an account cannot log in until customers gives it one.
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH))
    # The email lower-cased: one account per address whatever its case.
    email_key: Mapped[str | None] = mapped_column(String(EMAIL_MAX_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company_name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24))
    login_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    email_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    signup_device_id: Mapped[str | None] = mapped_column(String(DEVICE_ID_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    password_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class RefreshToken(Base):
    """An opaque refresh token, kept as its SHA-256 only; rotated on use, within a family.

    A family is one login's chain of rotations: presenting a token already rotated (a copy used
    by someone else) revokes the whole family.
    """

    __tablename__ = "refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    device_id: Mapped[str | None] = mapped_column(String(DEVICE_ID_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Device(Base):
    """A device or browser an account logged in from; confirmed once its link was followed."""

    __tablename__ = "devices"

    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(DEVICE_ID_MAX_LENGTH), primary_key=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    push_token: Mapped[str | None] = mapped_column(String(PUSH_TOKEN_MAX_LENGTH))
    push_platform: Mapped[str | None] = mapped_column(String(16))
    push_registered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class LinkToken(Base):
    """A token sent in a link (email validation, device confirmation), kept as its SHA-256.

    Bound to one account and one purpose (and device), single use, with an expiry.
    """

    __tablename__ = "link_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(String(DEVICE_ID_MAX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ThrottleHit(Base):
    """One counted attempt (a failed login, a sign-up...) in a bucket, by key (an account, an
    address): the database is the store every replica and gunicorn worker shares."""

    __tablename__ = "throttle_hits"
    __table_args__ = (Index("ix_throttle_hits_bucket_key_at", "bucket", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class AuthEvent(Base):
    """The audit of authentication: successes, failures, lockouts, password changes,
    impersonations. Never a password or a token."""

    __tablename__ = "auth_events"
    __table_args__ = (Index("ix_auth_events_account_id_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor: Mapped[str | None] = mapped_column(String(200))
    ip: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(DEVICE_ID_MAX_LENGTH))
    detail: Mapped[str | None] = mapped_column(String(2000))
