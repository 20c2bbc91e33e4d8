"""The four bulk actions on locked customers (C8, S2), each set-based, with its events.

On PostgreSQL each action is one statement whatever the number of customers: the change
(`INSERT … ON CONFLICT DO NOTHING`, `UPDATE`, `DELETE`, each `RETURNING` what changed) and one
event per change, written to the outbox by PostgreSQL itself (`set_based.emit_in_sql`), so that
no row travels through Python. SQLite, for the embedded mode, runs the same steps as a few
statements and builds the events in Python. `bulk.apply_action` picks the action.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, literal, literal_column, select, true, update
from sqlalchemy.dialects import postgresql

from services.customers.events import CONTACT_FIELDS, contact_json, contact_of
from services.customers.models import Customer, CustomerTag
from services.customers.tagging.events import MANUAL, emit_tagging, tag_names
from services.customers.tagging.set_based import (
    CONTACT_COLUMNS,
    dialect_name,
    emit_in_sql,
    id_in,
    insert_for,
    touch_and_emit_in_sql,
    touch_customers,
    uuid_array,
)
from services.customers.timeline.entries import delete_timeline
from shared.db import UnitOfWork, UtcDateTime, table_of


def add_tags(uow: UnitOfWork, ids: list[uuid.UUID], tag_ids: list[uuid.UUID], now: datetime) -> int:
    """Give these customers the tags they lack, a `customer.tagged` per tag given; how many."""
    session = uow.session
    if dialect_name(session) == "postgresql":
        # The ids are of locked, existing customers: they pair with the tags as they are, with
        # no second look-up of each customer (the foreign key still checks them).
        customers = select(func.unnest(uuid_array(ids)).label("id")).subquery()
        tags = select(func.unnest(uuid_array(sorted(set(tag_ids)))).label("tag_id")).subquery()
        added = (
            postgresql.insert(CustomerTag)
            .from_select(
                ["customer_id", "tag_id", "created_at"],
                select(customers.c.id, tags.c.tag_id, literal(now, UtcDateTime())).join(
                    tags, true()
                ),
            )
            .on_conflict_do_nothing()
            .returning(CustomerTag.customer_id, CustomerTag.tag_id)
            .cte("added")
        )
        return touch_and_emit_in_sql(uow, "customer.tagged", added, MANUAL, now)
    pairs: list[tuple[uuid.UUID, uuid.UUID]] = []
    for tag_id in sorted(set(tag_ids)):
        statement = insert_for(session, CustomerTag).from_select(
            ["customer_id", "tag_id", "created_at"],
            select(
                Customer.id,
                literal(tag_id, CustomerTag.tag_id.type),
                literal(now, UtcDateTime()),
            ).where(id_in(session, Customer.id, ids)),
        )
        pairs.extend(
            (customer_id, tag_id)
            for customer_id in session.scalars(
                statement.on_conflict_do_nothing().returning(CustomerTag.customer_id)
            )
        )
    contacts = touch_customers(session, {customer_id for customer_id, _ in pairs}, now)
    emit_tagging(uow, "customer.tagged", pairs, tag_names(session, tag_ids), MANUAL, contacts)
    return len(contacts)


def remove_tags(
    uow: UnitOfWork, ids: list[uuid.UUID], tag_ids: list[uuid.UUID], now: datetime
) -> int:
    """Take these tags off these customers, a `customer.untagged` per tag taken; how many."""
    session = uow.session
    if dialect_name(session) == "postgresql":
        removed = (
            delete(CustomerTag)
            .where(id_in(session, CustomerTag.customer_id, ids), CustomerTag.tag_id.in_(tag_ids))
            .returning(CustomerTag.customer_id, CustomerTag.tag_id)
            .cte("removed")
        )
        return touch_and_emit_in_sql(uow, "customer.untagged", removed, MANUAL, now)
    rows = session.execute(
        delete(CustomerTag)
        .where(id_in(session, CustomerTag.customer_id, ids), CustomerTag.tag_id.in_(tag_ids))
        .returning(CustomerTag.customer_id, CustomerTag.tag_id)
        .execution_options(synchronize_session=False)
    )
    pairs = [(row.customer_id, row.tag_id) for row in rows]
    contacts = touch_customers(session, {customer_id for customer_id, _ in pairs}, now)
    emit_tagging(uow, "customer.untagged", pairs, tag_names(session, tag_ids), MANUAL, contacts)
    return len(contacts)


def set_status(uow: UnitOfWork, ids: list[uuid.UUID], to: str, now: datetime) -> int:
    """Move these customers to status `to`, `customer.status_changed` for each; how many moved."""
    session = uow.session
    if dialect_name(session) == "postgresql":
        customers = table_of(Customer)
        # `FROM before` reads each row as the statement found it: its `from` status.
        before = (
            select(customers.c.id, customers.c.status.label("old"))
            .where(id_in(session, customers.c.id, ids), customers.c.status != to)
            .subquery("before")
        )
        changed = (
            update(customers)
            .where(customers.c.id == before.c.id)
            .values(
                status=to, status_changed_at=now, updated_at=now, version=customers.c.version + 1
            )
            .returning(customers.c.id, before.c.old, *(customers.c[n] for n in CONTACT_FIELDS))
            .cte("changed")
        )
        data = func.json_build_object(
            "customer_id", cast(changed.c.id, Text),
            "from", changed.c.old,
            "to", literal(to),
            "reason", literal(MANUAL),
            "customer", contact_json(changed.c),
        )  # fmt: skip
        statuses = select(data.label("data"), cast(changed.c.id, Text).label("subject"))
        return emit_in_sql(uow, "customer.status_changed", statuses, changed)
    previous = session.scalars(
        select(Customer.status)
        .where(id_in(session, Customer.id, ids), Customer.status != to)
        .distinct()
    ).all()
    changes: list[tuple[str, Any]] = []
    # One statement per status the customers leave (a handful), so each event has its own `from`.
    for old in sorted(previous):
        rows = session.execute(
            update(Customer)
            .where(id_in(session, Customer.id, ids), Customer.status == old)
            .values(
                status=to,
                status_changed_at=now,
                updated_at=now,
                version=Customer.version + 1,
            )
            .returning(Customer.id, *CONTACT_COLUMNS)
            .execution_options(synchronize_session=False)
        )
        changes.extend((old, row) for row in rows)

    def events() -> Iterator[tuple[dict[str, Any], str]]:
        for old, row in changes:
            data = {
                "customer_id": str(row.id),
                "from": old,
                "to": to,
                "reason": MANUAL,
                "customer": contact_of(row),
            }
            yield data, str(row.id)

    uow.emit_many("customer.status_changed", events())
    return len(changes)


def delete_customers(uow: UnitOfWork, ids: list[uuid.UUID]) -> int:
    """Delete these customers and their timelines, `customer.deleted` for each; how many."""
    session = uow.session
    delete_timeline(session, *ids)
    if dialect_name(session) == "postgresql":
        customers, links = table_of(Customer), table_of(CustomerTag)
        # Read in the statement's snapshot: the links as they were before the cascade.
        tag_id = cast(links.c.tag_id, Text).collate("C")  # sorted as Python sorts strings
        had = (
            select(
                links.c.customer_id,
                func.json_agg(postgresql.aggregate_order_by(tag_id, tag_id)).label("tag_ids"),
            )
            .where(id_in(session, links.c.customer_id, ids))
            .group_by(links.c.customer_id)
            .cte("had")
        )
        gone = (
            delete(customers)
            .where(id_in(session, customers.c.id, ids))
            .returning(customers.c.id)
            .cte("gone")
        )
        data = func.json_build_object(
            "customer_id", cast(gone.c.id, Text),
            "tag_ids", func.coalesce(had.c.tag_ids, literal_column("'[]'::json")),
        )  # fmt: skip
        deletions = select(data.label("data"), cast(gone.c.id, Text).label("subject"))
        deletions = deletions.select_from(gone.outerjoin(had, had.c.customer_id == gone.c.id))
        return emit_in_sql(uow, "customer.deleted", deletions, gone)
    tags: defaultdict[uuid.UUID, list[str]] = defaultdict(list)
    rows = session.execute(
        select(CustomerTag.customer_id, CustomerTag.tag_id).where(
            id_in(session, CustomerTag.customer_id, ids)
        )
    )
    for row in rows:
        tags[row.customer_id].append(str(row.tag_id))
    deleted = list(
        session.scalars(
            delete(Customer)
            .where(id_in(session, Customer.id, ids))
            .returning(Customer.id)
            .execution_options(synchronize_session=False)
        )
    )
    uow.emit_many(
        "customer.deleted",
        (
            ({"customer_id": str(customer), "tag_ids": sorted(tags[customer])}, str(customer))
            for customer in deleted
        ),
    )
    return len(deleted)
