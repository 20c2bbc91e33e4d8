"""Each customer's facts, kept from events (the projection rules read): status, tags, profile,
first payment, invoice and appointment, last interaction, counters and revenue per currency.

Every update is idempotent through the consumer's inbox, and order-tolerant where the events
carry time: a first fact keeps the earliest time, the last interaction the latest, a status
the one of the latest `customer.status_changed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.automation.facts_rows import COUNTER_COLUMNS, lock_rows, write_rows
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


def insert_for(session: Session, model: type[Any]) -> Any:
    """An INSERT with ON CONFLICT for this session's backend."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(model)


def lock_facts(
    session: Session, since: Mapping[uuid.UUID, datetime]
) -> dict[uuid.UUID, CustomerFacts]:
    """The facts rows of these customers (keys), created when missing (`since` their value),
    locked until commit: on PostgreSQL one statement (`facts_rows`), elsewhere one to create and
    one to lock, whatever the number of customers.
    Rows are taken in id order, so that two consumers sharing customers never deadlock."""
    ids = sorted(since)
    if not ids:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        return lock_rows(session, ids, since)
    _create_facts(session, ids, since)
    rows = session.scalars(
        select(CustomerFacts)
        .where(CustomerFacts.customer_id.in_(ids))
        .order_by(CustomerFacts.customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.customer_id: row for row in rows}


def _create_facts(
    session: Session, ids: Iterable[uuid.UUID], since: Mapping[uuid.UUID, datetime]
) -> None:
    session.execute(
        insert_for(session, CustomerFacts).on_conflict_do_nothing(),
        [
            {
                "customer_id": customer_id,
                "known": False,
                "deleted": False,
                "profile": {},
                "since": since[customer_id],
                **{name: 0 for name in COUNTER_COLUMNS},
            }
            for customer_id in ids
        ],
    )


def write_facts(session: Session, rows: Iterable[CustomerFacts]) -> None:
    """The rows a run changed, written at once on PostgreSQL (elsewhere the flush writes them)."""
    if session.get_bind().dialect.name == "postgresql":
        write_rows(session, rows)


def locked_facts(session: Session, customer_id: uuid.UUID, since: datetime) -> CustomerFacts:
    """The customer's facts row, created when missing, locked until commit."""
    return lock_facts(session, {customer_id: since})[customer_id]


def earliest(items: Iterable[tuple[uuid.UUID, datetime]]) -> dict[uuid.UUID, datetime]:
    """Each customer's earliest time among `items` (the `since` of rows `lock_facts` creates)."""
    first: dict[uuid.UUID, datetime] = {}
    for customer_id, time in items:
        if customer_id not in first or time < first[customer_id]:
            first[customer_id] = time
    return first


def apply_interaction(
    facts: CustomerFacts, event_type: str, data: Mapping[str, Any], time: datetime
) -> None:
    """An external event on a locked row (`lock_facts`): its counter, its first time, the last
    interaction; the revenue of a purchase is `add_revenue`'s."""
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


def add_revenue(session: Session, purchases: Iterable[tuple[uuid.UUID, str, Decimal]]) -> None:
    """Completed purchases (customer, currency, amount) added to the revenue: one upsert of
    their sums per (customer, currency), in key order."""
    sums: dict[tuple[uuid.UUID, str], Decimal] = {}
    for customer_id, currency, amount in purchases:
        sums[(customer_id, currency)] = sums.get((customer_id, currency), Decimal(0)) + amount
    if not sums:
        return
    statement = insert_for(session, CustomerRevenue)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[CustomerRevenue.customer_id, CustomerRevenue.currency],
            set_={CustomerRevenue.amount: CustomerRevenue.amount + statement.excluded.amount},
        ),
        [
            {"customer_id": customer_id, "currency": currency, "amount": amount}
            for (customer_id, currency), amount in sorted(sums.items(), key=lambda kv: kv[0])
        ],
    )


def record_customer(
    session: Session, customer_id: uuid.UUID, state: Mapping[str, Any], time: datetime
) -> CustomerFacts:
    """The customer's state from customers (`customer.created`, or its answer): known now."""
    facts = locked_facts(session, customer_id, time)
    apply_customer(session, facts, state, time)
    return facts


def apply_customer(
    session: Session,
    facts: CustomerFacts,
    state: Mapping[str, Any],
    time: datetime,
    views: Views | None = None,
) -> None:
    """The customer's state from customers on a locked row (its tags too): known now."""
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
            .values(customer_id=facts.customer_id, tag_id=tag_id)
            .on_conflict_do_nothing()
        )
        if views is not None:
            views.tagged(facts.customer_id, tag_id, True)


def apply_profile(facts: CustomerFacts, data: Mapping[str, Any]) -> None:
    """`customer.updated` on a locked row: the profile fields rules read."""
    facts.known = True
    facts.profile = plain(dict(data["customer"]))


def apply_status(facts: CustomerFacts, data: Mapping[str, Any], time: datetime) -> None:
    """`customer.status_changed` on a locked row: the status, unless a later change is already
    recorded; the status key is `note_status`'s."""
    facts.known = True
    if facts.status_at is None or time >= facts.status_at:
        facts.status = data["to"]
        facts.status_at = time
    if data.get("customer") is not None:
        facts.profile = plain(dict(data["customer"]))


def apply_tagging(
    session: Session,
    facts: CustomerFacts,
    data: Mapping[str, Any],
    tagged: bool,
    views: Views | None = None,
) -> None:
    """`customer.tagged` / `customer.untagged` on a locked row."""
    customer_id, tag_id = facts.customer_id, data["tag_id"]
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
    if views is not None:
        views.tagged(customer_id, tag_id, tagged)


def record_deleted(session: Session, customer_id: uuid.UUID, time: datetime) -> None:
    """`customer.deleted` (or the duplicate of a merge): no rule acts on them any more."""
    facts = locked_facts(session, customer_id, time)
    facts.deleted = True
    session.execute(delete(CustomerFactTag).where(CustomerFactTag.customer_id == customer_id))


def note_status(session: Session, *keys: str) -> None:
    """Status keys customers uses: rules may name them (one statement for them all)."""
    if keys:
        session.execute(
            insert_for(session, KnownStatus).on_conflict_do_nothing(),
            [{"key": key} for key in sorted(set(keys))],
        )


class NotedStatuses:
    """`note_status` for a worker: the keys it found already committed in a database are not
    noted there again (statuses are never forgotten), so that a run of status changes to the
    usual statuses costs no statement for them."""

    def __init__(self) -> None:
        self._committed: set[tuple[str, str]] = set()

    def note(self, session: Session, keys: Iterable[str]) -> None:
        """Note the keys not known to be committed; those the database already held (the
        others were inserted by this transaction, which may still roll back) are known now."""
        database = str(session.get_bind().engine.url)
        new = sorted({key for key in keys if (database, key) not in self._committed})
        if not new:
            return
        statement = insert_for(session, KnownStatus).on_conflict_do_nothing()
        inserted = set(
            session.scalars(statement.returning(KnownStatus.key), [{"key": k} for k in new])
        )
        self._committed.update((database, key) for key in new if key not in inserted)


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


class Views:
    """The tags and revenue of some customers, read in one statement each, and kept up to date
    in memory by a run of events, so that each event's rules read the facts as of that event."""

    def __init__(
        self,
        session: Session,
        customer_ids: Iterable[uuid.UUID],
        reads: Collection[str] = ("tags", "revenue"),
    ) -> None:
        """The views `reads` names ("tags", "revenue"), read for these customers: the others stay
        empty (no rule of the run reads them)."""
        ids = sorted(set(customer_ids))
        self.tags: dict[uuid.UUID, set[uuid.UUID]] = {customer_id: set() for customer_id in ids}
        self.revenue: dict[uuid.UUID, dict[str, Decimal]] = {customer_id: {} for customer_id in ids}
        if not ids:
            return
        if "tags" in reads:
            self._read_tags(session, ids)
        if "revenue" in reads:
            self._read_revenue(session, ids)

    def _read_tags(self, session: Session, ids: list[uuid.UUID]) -> None:
        for customer_id, tag_id in session.execute(
            select(CustomerFactTag.customer_id, CustomerFactTag.tag_id).where(
                CustomerFactTag.customer_id.in_(ids)
            )
        ):
            self.tags[customer_id].add(tag_id)

    def _read_revenue(self, session: Session, ids: list[uuid.UUID]) -> None:
        for row in session.execute(
            select(
                CustomerRevenue.customer_id, CustomerRevenue.currency, CustomerRevenue.amount
            ).where(CustomerRevenue.customer_id.in_(ids))
        ):
            self.revenue[row.customer_id][row.currency] = row.amount

    def reload_tags(self, session: Session, customer_id: uuid.UUID) -> None:
        """Read one customer's tags again (their state came from customers' answer)."""
        self.tags[customer_id] = set(
            session.scalars(
                select(CustomerFactTag.tag_id).where(CustomerFactTag.customer_id == customer_id)
            )
        )

    def tagged(self, customer_id: uuid.UUID, tag_id: uuid.UUID, on: bool) -> None:
        """A tag given (`on`) or taken."""
        tags = self.tags.setdefault(customer_id, set())
        if on:
            tags.add(tag_id)
        else:
            tags.discard(tag_id)

    def purchased(self, customer_id: uuid.UUID, currency: str, amount: Decimal) -> None:
        """A completed purchase."""
        revenue = self.revenue.setdefault(customer_id, {})
        revenue[currency] = revenue.get(currency, Decimal(0)) + amount

    def of(
        self,
        facts: CustomerFacts,
        event: Mapping[str, Any] | None = None,
        now: datetime | None = None,
    ) -> Facts:
        """What the interpreter reads of a customer (and of the triggering event's data)."""
        counters: dict[str, int | None] = {name: getattr(facts, name) for name in COUNTER_COLUMNS}
        counters["days_since_last_interaction"] = days_since(
            facts.last_interaction_at or facts.since, now or utcnow()
        )
        return Facts(
            status=facts.status,
            tags=frozenset(self.tags.get(facts.customer_id, ())),
            revenue=dict(self.revenue.get(facts.customer_id, {})),
            counters=counters,
            customer={**facts.profile, "kind": facts.kind},
            event=plain(dict(event or {})),
        )


def facts_of(
    session: Session,
    facts: CustomerFacts,
    event: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> Facts:
    """What the interpreter reads of one customer (and of the triggering event's data)."""
    return Views(session, [facts.customer_id]).of(facts, event, now)


def days_since(moment: datetime | None, now: datetime) -> int | None:
    """Whole days from `moment` to `now`; None when there is no moment."""
    if moment is None:
        return None
    return max(0, (now - moment).days)
