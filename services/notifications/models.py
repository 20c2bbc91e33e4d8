"""The notifications service's tables: templates, settings, the customer projection, deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Index, Integer, MetaData, String, Text, Uuid, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import NAMING_CONVENTION, UtcDateTime, utcnow

KEY_MAX_LENGTH = 200
LANGUAGE_MAX_LENGTH = 35


class Base(DeclarativeBase):
    """The notifications service's own tables (its database holds the outbox and inbox too)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Template(Base):
    """A template staff saved for a key and language; without one, the shipped text applies."""

    __tablename__ = "templates"

    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH), primary_key=True)
    language: Mapped[str] = mapped_column(String(LANGUAGE_MAX_LENGTH), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class NotificationSettings(Base):
    """The one row of the service's settings (`id` 1)."""

    __tablename__ = "notification_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    default_language: Mapped[str] = mapped_column(String(LANGUAGE_MAX_LENGTH))
    admin_emails: Mapped[list[str]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CustomerContact(Base):
    """What notifications knows of a customer to write to them, from customers' events.

    `as_of` is the time of the event that said it last: an older event never overwrites a
    newer state. A deleted customer keeps its row (`deleted`), so that a late event does not
    bring it back.
    """

    __tablename__ = "customer_contacts"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str | None] = mapped_column(String(LANGUAGE_MAX_LENGTH))
    first_name: Mapped[str | None] = mapped_column(String(200))
    last_name: Mapped[str | None] = mapped_column(String(200))
    company_name: Mapped[str | None] = mapped_column(String(300))
    email_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)


class Delivery(Base):
    """One email: recorded pending with the event that caused it, then sent by the sender.

    `status`: pending (waiting, maybe after a temporary failure: `next_attempt_at`), sending
    (handed to the SMTP server, the outcome not recorded yet), sent, failed (permanent refusal
    or given up), ambiguous (the server may have taken it; not sent again), skipped (no
    consent, no address, no template: `error` says why).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_message_id", "message_id", unique=True),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_deliveries_customer_id_created_at", "customer_id", "created_at"),
        Index("ix_deliveries_created_at", "created_at"),
        Index("ix_deliveries_status_updated_at", "status", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    message_id: Mapped[str] = mapped_column(String(500))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    to_admins: Mapped[bool] = mapped_column(Boolean, default=False)
    needs_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    recipients: Mapped[list[str] | None] = mapped_column(JSON)
    consent: Mapped[bool | None] = mapped_column(Boolean)
    requested_language: Mapped[str | None] = mapped_column(String(LANGUAGE_MAX_LENGTH))
    locale: Mapped[str | None] = mapped_column(String(LANGUAGE_MAX_LENGTH))
    fallback: Mapped[str | None] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
