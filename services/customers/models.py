"""The customers service's tables."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import NAMING_CONVENTION, BigId, UtcDateTime, utcnow

DEFAULT_STATUSES = (
    ("lead", "Lead", 1),
    ("prospect", "Prospect", 2),
    ("active", "Active customer", 3),
    ("vip", "VIP", 4),
    ("inactive", "Inactive", 5),
)
INITIAL_STATUS = "lead"
# JSON everywhere, JSONB on PostgreSQL: containment (`@>`) and its GIN index serve `cf.<key>`.
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    """The customers service's own tables (its database holds the outbox and inbox too)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TagView(Base):
    """The local copy of the tag catalogue, kept from `tag.*` events, for display and filters."""

    __tablename__ = "tag_projection"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    color: Mapped[str] = mapped_column(String(7))
    order: Mapped[int | None] = mapped_column(Integer)
    is_fixed: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Status(Base):
    """A lifecycle status customers can be in (defaults plus the ones staff add)."""

    __tablename__ = "statuses"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=100)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Customer(Base):
    """A customer profile: an individual or a company."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_created_at_id", "created_at", "id"),
        Index("ix_customers_status_created_at", "status", "created_at"),
        # The list's indexes (migration 0004 says why each one).
        Index("ix_customers_sort_name_id", "sort_name", "id"),
        Index(
            "ix_customers_country_created_at_id_status",
            "address_country",
            "created_at",
            "id",
            "status",
        ),
        Index(
            "ix_customers_suppliers_created_at_id",
            "created_at",
            "id",
            postgresql_where=text("is_supplier"),
            sqlite_where=text("is_supplier"),
        ),
        # PostgreSQL only: trigram search for `q`, and the case-insensitive filters in order.
        Index(
            "ix_customers_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ).ddl_if(dialect="postgresql"),
        *(
            Index(
                f"ix_customers_lower_{name}_created_at_id_status",
                func.lower(text(column)),
                "created_at",
                "id",
                "status",
            ).ddl_if(dialect="postgresql")
            for name, column in (
                ("city", "address_city"),
                ("region", "address_region"),
                ("postal_code", "address_postal_code"),
            )
        ),
        # `cf.<key>=<value>` filters as `custom_fields @> {"key": value}` (migration 0013).
        Index(
            "ix_customers_custom_fields",
            "custom_fields",
            postgresql_using="gin",
            postgresql_ops={"custom_fields": "jsonb_path_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    company_name: Mapped[str | None] = mapped_column(String(200))
    # Lower-cased sort key: last name (or company) then first name, for "order by name".
    sort_name: Mapped[str] = mapped_column(String(320), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    # The email lower-cased: unique, so that two customers never share an address.
    email_key: Mapped[str | None] = mapped_column(String(320), unique=True)
    website: Mapped[str | None] = mapped_column(String(2000))
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(16))
    address_street: Mapped[str | None] = mapped_column(String(300))
    address_postal_code: Mapped[str | None] = mapped_column(String(20))
    address_city: Mapped[str | None] = mapped_column(String(100))
    address_region: Mapped[str | None] = mapped_column(String(100))
    address_country: Mapped[str | None] = mapped_column(String(2))
    email_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    newsletter_subscribed: Mapped[bool] = mapped_column(Boolean, default=False)
    billing: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    shipping_addresses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    is_supplier: Mapped[bool] = mapped_column(Boolean, default=False)
    is_conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(ForeignKey("statuses.key"), default=INITIAL_STATUS)
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    source_channel: Mapped[str | None] = mapped_column(String(100))
    source_campaign: Mapped[str | None] = mapped_column(String(200))
    utm_source: Mapped[str | None] = mapped_column(String(200))
    utm_medium: Mapped[str | None] = mapped_column(String(200))
    utm_campaign: Mapped[str | None] = mapped_column(String(200))
    source_device: Mapped[str | None] = mapped_column(String(200))
    notes: Mapped[str | None] = mapped_column(Text)
    discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # Values of the custom fields staff define (C13), by key; checked by services.customers.fields.
    custom_fields: Mapped[dict[str, Any]] = mapped_column(
        JSON_DOCUMENT, default=dict, server_default=text("'{}'")
    )
    login_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    email_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    # The time of the registration event (`account.updated`) the two above come from: an older
    # one never overwrites them. None until the first arrives.
    login_state_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Lower-cased names, company, email and phone digits: what `q` searches (pg_trgm on PG).
    search_text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    phones: Mapped[list[Phone]] = relationship(
        back_populates="customer",
        cascade="all, delete-orphan",
        order_by="Phone.position",
        lazy="selectin",
    )
    newsletter_lists: Mapped[list[NewsletterSubscription]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )
    # Loaded only where used (delete, merge): reads take tags with their names from TagView.
    tag_links: Mapped[list[CustomerTag]] = relationship(
        cascade="all, delete-orphan", lazy="select", passive_deletes=True
    )


class Phone(Base):
    """One of a customer's phone numbers, in E.164, with its per-channel consent."""

    __tablename__ = "customer_phones"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    number: Mapped[str] = mapped_column(String(20), index=True)
    type: Mapped[str] = mapped_column(String(50), default="mobile")
    sms: Mapped[bool] = mapped_column(Boolean, default=False)
    whatsapp: Mapped[bool] = mapped_column(Boolean, default=False)
    viber: Mapped[bool] = mapped_column(Boolean, default=False)

    customer: Mapped[Customer] = relationship(back_populates="phones")


class NewsletterSubscription(Base):
    """A customer subscribed to one named newsletter list."""

    __tablename__ = "customer_newsletter_lists"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    list_name: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class CustomerTag(Base):
    """A tag applied to a customer."""

    __tablename__ = "customer_tags"
    __table_args__ = (Index("ix_customer_tags_tag_id_customer_id", "tag_id", "customer_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ConsentRecord(Base):
    """Who switched a channel on or off for a customer, when, and how (C4)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # `email`, `newsletter`, or `phone:<E.164>:<sms|whatsapp|viber>`.
    channel: Mapped[str] = mapped_column(String(100))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(200))
    obtained_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Avatar(Base):
    """A customer's avatar image, re-encoded and at most 512x512."""

    __tablename__ = "customer_avatars"

    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    content_type: Mapped[str] = mapped_column(String(50))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Segment(Base):
    """A saved filter: list parameters under a name."""

    __tablename__ = "segments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    filter: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BulkJob(Base):
    """A bulk action too large to answer in one request, run by the worker (C8)."""

    __tablename__ = "bulk_jobs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    action: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BulkJobTarget(Base):
    """A customer a bulk job acts on: its filter's matches, taken once when the job starts."""

    __tablename__ = "bulk_job_targets"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("bulk_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class TimelineEntry(Base):
    """One interaction on a customer's timeline (C10): an event's, or a custom action staff wrote.

    An event's entry is unique by its type's owner and its id (`event_source`, `event_id`), so an
    event delivered twice, or sent again by another system, appears once. Entries carry no foreign
    key: an external event may name a customer before the customer exists (a sign-up still on
    its way); the entry shows once the customer does. Delete and merge take the entries along.
    """

    __tablename__ = "timeline_entries"
    __table_args__ = (
        # The page: one customer's entries, newest first, keyset (occurred_at, id) (a b-tree
        # read backwards serves the descending order).
        Index("ix_timeline_entries_customer_id_occurred_at_id", "customer_id", "occurred_at", "id"),
        UniqueConstraint("event_source", "event_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # The event's type, or `custom`.
    type: Mapped[str] = mapped_column(String(64))
    # The event's own time (not its arrival); for a custom entry, when it was written.
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    event_source: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[str | None] = mapped_column(String(200))
    actor: Mapped[str | None] = mapped_column(String(200))
    # What the title is made of (an event's data, as its schema loaded it, in JSON).
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Custom entries only: the title staff wrote and the sanitised HTML note.
    title: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    # Purchases only, for the summary: the exact amount and its currency.
    amount: Mapped[Decimal | None] = mapped_column(Numeric(19, 4))
    currency: Mapped[str | None] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class TimelineAttachment(Base):
    """A file attached to a custom timeline entry; its bytes are in the attachment store."""

    __tablename__ = "timeline_attachments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    entry_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("timeline_entries.id", ondelete="CASCADE"), index=True
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    filename: Mapped[str] = mapped_column(String(255))
    # Found from the content, never from what the client said.
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CustomerSummary(Base):
    """A customer's summary (C11), kept by each batch of events from its new timeline entries
    (so a redelivered event, whose entry exists, never counts twice); revenue is apart."""

    __tablename__ = "customer_summaries"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    purchases_count: Mapped[int] = mapped_column(Integer, default=0)
    invoices_count: Mapped[int] = mapped_column(Integer, default=0)
    support_requests_count: Mapped[int] = mapped_column(Integer, default=0)
    # The newest entry by (occurred_at, id), as the timeline orders them.
    last_action_at: Mapped[datetime | None] = mapped_column(UtcDateTime, index=True)
    last_action_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_action_type: Mapped[str | None] = mapped_column(String(64))


class CustomerRevenue(Base):
    """A customer's purchases' total in one currency, exact."""

    __tablename__ = "customer_revenue"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(24, 4))


class PushDevice(Base):
    """A device of a customer registered for push, or revoked (the latest event wins)."""

    __tablename__ = "customer_push_devices"

    device_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    registered: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ParkedEvent(Base):
    """An event for a customer not known when it came: its entry waits, invisible, for the
    customer; past the window without one, the event goes to the dead letters with the reason."""

    __tablename__ = "timeline_parked_events"
    __table_args__ = (UniqueConstraint("event_source", "event_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    event_source: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    parked_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
