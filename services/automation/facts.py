"""Each customer's facts, kept from events (the projection rules read): status, tags, profile,
first payment, invoice and appointment, last interaction, counters and revenue per currency.

Every update is idempotent through the consumer's inbox, and order-tolerant where the events
carry time: a first fact keeps the earliest time, the last interaction the latest, a status
the one of the latest `customer.status_changed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.automation.models import (
    CustomerFacts,
    CustomerFactTag,
    CustomerRevenue,
    KnownStatus,
    KnownTag,
)
from services.automation.rules.interpreter import Facts, plain
from shared.db import utcnow

# External event type -> (its counter, its "first" time column or None).
INTERACTIONS: dict[str, tuple[str, str | None]] = {
    "billing.purchase.completed": ("purchases_count", None),
    "billing.invoice.issued": ("invoices_count", "first_invoice_at"),
    "billing.payment.recorded": ("payments_count", "first_payment_at"),
    "scheduling.appointment.completed": ("appointments_count", "first_appointment_at"),
    "support.request.created": ("support_requests_count", None),
    "marketing.email.clicked": ("emails_clicked_count", None),
    "marketing.email.opened": ("", None),
}
COUNTER_COLUMNS = (
    "purchases_count",
    "payments_count",
    "invoices_count",
    "appointments_count",
    "support_requests_count",
    "emails_clicked_count",
)


def insert_for(session: Session, model: type[Any]) -> Any:
    """An INSERT with ON CONFLICT for this session's backend."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model)


def locked_facts(session: Session, customer_id: uuid.UUID, since: datetime) -> CustomerFacts:
    """The customer's facts row, created when missing, locked until commit."""
    session.execute(
        insert_for(session, CustomerFacts)
        .values(
            customer_id=customer_id,
            known=False,
            deleted=False,
            profile={},
            since=since,
            **{name: 0 for name in COUNTER_COLUMNS},
        )
        .on_conflict_do_nothing()
    )
    facts = session.scalars(
        select(CustomerFacts)
        .where(CustomerFacts.customer_id == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return facts


def record_interaction(
    session: Session, event_type: str, data: Mapping[str, Any], time: datetime
) -> CustomerFacts:
    """An external event: its counter, its first time, the last interaction, the revenue."""
    customer_id: uuid.UUID = data["customer_id"]
    facts = locked_facts(session, customer_id, time)
    counter, first = INTERACTIONS[event_type]
    if counter:
        setattr(facts, counter, getattr(facts, counter) + 1)
    if first is not None:
        current = getattr(facts, first)
        if current is None or time < current:
            setattr(facts, first, time)
    if facts.last_interaction_at is None or time > facts.last_interaction_at:
        facts.last_interaction_at = time
    if time < facts.since:
        facts.since = time
    if event_type == "billing.purchase.completed":
        amount = Decimal(data["amount"])
        statement = insert_for(session, CustomerRevenue).values(
            customer_id=customer_id, currency=data["currency"], amount=amount
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[CustomerRevenue.customer_id, CustomerRevenue.currency],
                set_={CustomerRevenue.amount: CustomerRevenue.amount + statement.excluded.amount},
            )
        )
    return facts


def record_customer(
    session: Session, customer_id: uuid.UUID, state: Mapping[str, Any], time: datetime
) -> CustomerFacts:
    """The customer's state from customers (`customer.created`, or its answer): known now."""
    facts = locked_facts(session, customer_id, time)
    facts.known = True
    facts.deleted = False
    if "status" in state and (facts.status_at is None or time >= facts.status_at):
        facts.status = state["status"]
        facts.status_at = time
        note_status(session, state["status"])
    if state.get("kind"):
        facts.kind = state["kind"]
    if state.get("customer") is not None:
        facts.profile = plain(dict(state["customer"]))
    if time < facts.since:
        facts.since = time
    for tag_id in state.get("tag_ids", ()):
        session.execute(
            insert_for(session, CustomerFactTag)
            .values(customer_id=customer_id, tag_id=tag_id)
            .on_conflict_do_nothing()
        )
    return facts


def record_profile(session: Session, data: Mapping[str, Any], time: datetime) -> CustomerFacts:
    """`customer.updated`: the profile fields rules read."""
    facts = locked_facts(session, data["customer_id"], time)
    facts.known = True
    facts.profile = plain(dict(data["customer"]))
    return facts


def record_status(session: Session, data: Mapping[str, Any], time: datetime) -> CustomerFacts:
    """`customer.status_changed`: the status, unless a later change is already recorded."""
    facts = locked_facts(session, data["customer_id"], time)
    facts.known = True
    if facts.status_at is None or time >= facts.status_at:
        facts.status = data["to"]
        facts.status_at = time
    if data.get("customer") is not None:
        facts.profile = plain(dict(data["customer"]))
    note_status(session, data["to"])
    return facts


def record_tagging(
    session: Session, data: Mapping[str, Any], tagged: bool, time: datetime
) -> CustomerFacts:
    """`customer.tagged` / `customer.untagged`."""
    customer_id, tag_id = data["customer_id"], data["tag_id"]
    facts = locked_facts(session, customer_id, time)
    facts.known = True
    if tagged:
        session.execute(
            insert_for(session, CustomerFactTag)
            .values(customer_id=customer_id, tag_id=tag_id)
            .on_conflict_do_nothing()
        )
    else:
        session.execute(
            delete(CustomerFactTag).where(
                CustomerFactTag.customer_id == customer_id, CustomerFactTag.tag_id == tag_id
            )
        )
    return facts


def record_deleted(session: Session, customer_id: uuid.UUID, time: datetime) -> None:
    """`customer.deleted` (or the duplicate of a merge): no rule acts on them any more."""
    facts = locked_facts(session, customer_id, time)
    facts.deleted = True
    session.execute(delete(CustomerFactTag).where(CustomerFactTag.customer_id == customer_id))


def note_status(session: Session, key: str) -> None:
    """A status key customers uses: rules may name it."""
    session.execute(insert_for(session, KnownStatus).values(key=key).on_conflict_do_nothing())


def note_tag(session: Session, tag_id: uuid.UUID, name: str) -> None:
    """A tag of the catalogue (`tag.created`, `tag.updated`, or the tags service's answer)."""
    statement = insert_for(session, KnownTag).values(id=tag_id, name=name)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[KnownTag.id], set_={KnownTag.name: statement.excluded.name}
        )
    )


def forget_tag(session: Session, tag_id: uuid.UUID, into: uuid.UUID | None = None) -> None:
    """A deleted tag (or one merged `into` another) leaves the catalogue and every customer."""
    session.execute(delete(KnownTag).where(KnownTag.id == tag_id))
    if into is not None:
        session.execute(
            insert_for(session, CustomerFactTag)
            .from_select(
                ["customer_id", "tag_id"],
                select(
                    CustomerFactTag.customer_id, literal(into, CustomerFactTag.tag_id.type)
                ).where(CustomerFactTag.tag_id == tag_id),
            )
            .on_conflict_do_nothing()
        )
    session.execute(delete(CustomerFactTag).where(CustomerFactTag.tag_id == tag_id))


def facts_of(
    session: Session,
    facts: CustomerFacts,
    event: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Facts:
    """What the interpreter reads of a customer (and of the triggering event's data)."""
    customer_id = facts.customer_id
    tags = frozenset(
        session.scalars(
            select(CustomerFactTag.tag_id).where(CustomerFactTag.customer_id == customer_id)
        )
    )
    revenue = {
        row.currency: row.amount
        for row in session.execute(
            select(CustomerRevenue.currency, CustomerRevenue.amount).where(
                CustomerRevenue.customer_id == customer_id
            )
        )
    }
    counters: dict[str, int | None] = {name: getattr(facts, name) for name in COUNTER_COLUMNS}
    counters["days_since_last_interaction"] = days_since(
        facts.last_interaction_at or facts.since, now or utcnow()
    )
    profile = {**facts.profile, "kind": facts.kind}
    return Facts(
        status=facts.status,
        tags=tags,
        revenue=revenue,
        counters=counters,
        customer=profile,
        event=plain(dict(event or {})),
    )


def days_since(moment: datetime | None, now: datetime) -> int | None:
    """Whole days from `moment` to `now`; None when there is no moment."""
    if moment is None:
        return None
    return max(0, (now - moment).days)
