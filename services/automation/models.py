"""The automation service's tables: settings, rules, each customer's facts, and every decision."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import Uuid

from shared.db import NAMING_CONVENTION, BigId, UtcDateTime, utcnow

DEFAULT_INACTIVITY_DAYS = 180
SETTINGS_ID = 1


class Base(DeclarativeBase):
    """The automation service's own tables (its database holds the outbox and inbox too)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AutomationSettings(Base):
    """The one row of global settings: the main switch and the inactivity period."""

    __tablename__ = "automation_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    inactivity_days: Mapped[int] = mapped_column(Integer, default=DEFAULT_INACTIVITY_DAYS)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Rule(Base):
    """A rule stored as data: trigger, conditions and actions in the contract's grammar."""

    __tablename__ = "rules"
    __table_args__ = (Index("ix_rules_trigger", "trigger"),)

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[str] = mapped_column(String(200))
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CustomerFacts(Base):
    """What automation knows of one customer, kept from events (never read from customers'
    tables)."""

    __tablename__ = "customer_facts"
    __table_args__ = (
        Index("ix_customer_facts_status_last_interaction_at", "status", "last_interaction_at"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    known: Mapped[bool] = mapped_column(Boolean, default=False)
    """The customer's state came from customers (its events or its answer)."""
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str | None] = mapped_column(String(50))
    status_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    kind: Mapped[str | None] = mapped_column(String(20))
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    since: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    """When automation first heard of the customer (their creation, or their first event)."""
    first_payment_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_invoice_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_appointment_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_interaction_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    payments_count: Mapped[int] = mapped_column(Integer, default=0)
    invoices_count: Mapped[int] = mapped_column(Integer, default=0)
    appointments_count: Mapped[int] = mapped_column(Integer, default=0)
    purchases_count: Mapped[int] = mapped_column(Integer, default=0)
    support_requests_count: Mapped[int] = mapped_column(Integer, default=0)
    emails_clicked_count: Mapped[int] = mapped_column(Integer, default=0)


class CustomerFactTag(Base):
    """A tag a customer carries, as automation heard it."""

    __tablename__ = "customer_fact_tags"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    tag_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)


class CustomerRevenue(Base):
    """A customer's revenue in one currency (completed purchases)."""

    __tablename__ = "customer_revenue"

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(20, 4), default=Decimal(0))


class KnownTag(Base):
    """The tag catalogue as automation knows it (from `tag.*` events), to validate rules."""

    __tablename__ = "known_tags"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


class KnownStatus(Base):
    """A status key automation has seen in customers' events or answers (defaults seeded)."""

    __tablename__ = "known_statuses"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)


class Firing(Base):
    """A rule fired for a customer on a fact: at most once per (rule, customer, fact)."""

    __tablename__ = "rule_firings"

    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    fact_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ActionRequest(Base):
    """An `automation.action_requested` sent: the chain its result continues (depth, fact)."""

    __tablename__ = "action_requests"
    __table_args__ = (
        Index("ix_action_requests_rule_id_customer_id_id", "rule_id", "customer_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    depth: Mapped[int] = mapped_column(Integer)
    fact_key: Mapped[str] = mapped_column(String(300))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Decision(Base):
    """One evaluation of one rule for one customer, fired or not, and why."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_customer_id_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    rule_id: Mapped[str] = mapped_column(String(100))
    rule_version: Mapped[int] = mapped_column(Integer)
    trigger_event_id: Mapped[str | None] = mapped_column(String(200))
    trigger_type: Mapped[str] = mapped_column(String(200))
    trigger_time: Mapped[datetime] = mapped_column(UtcDateTime)
    fact_key: Mapped[str] = mapped_column(String(300))
    depth: Mapped[int] = mapped_column(Integer, default=1)
    outcome: Mapped[str] = mapped_column(String(32))
    fired: Mapped[bool] = mapped_column(Boolean, default=False)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    evaluated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
