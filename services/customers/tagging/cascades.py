"""Cascades of the tag catalogue (T4, T5): a deleted tag leaves every customer, a merged one
moves its customers to the surviving tag.

Each is set-based (`INSERT … ON CONFLICT DO NOTHING RETURNING`, `DELETE … RETURNING`) and runs in
the unit of work of its caller, the consumer of `tag.deleted` / `tag.merged`. Locks are taken in
the order `usecases` keeps: tag projection rows, then customers by id, then their tag rows.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, delete, exists, literal, select
from sqlalchemy.orm import Session

from services.customers.models import Customer, CustomerTag, TagView
from services.customers.tagging.events import TAG_DELETED, TAG_MERGED, emit_tagging, tag_names
from services.customers.tagging.set_based import insert_for, touch_customers
from shared.db import UnitOfWork, UtcDateTime, utcnow


def lock_customers_of_tag(session: Session, tag_id: uuid.UUID) -> list[uuid.UUID]:
    """Lock, in id order, every customer carrying a tag; their ids."""
    carries = exists().where(CustomerTag.customer_id == Customer.id, CustomerTag.tag_id == tag_id)
    return list(
        session.scalars(select(Customer.id).where(carries).order_by(Customer.id).with_for_update())
    )


def forget_tag(session: Session, tag_id: uuid.UUID) -> str | None:
    """Drop a tag from the projection first (its row lock orders the cascade); its name."""
    row: Row[Any] | None = session.execute(
        delete(TagView)
        .where(TagView.id == tag_id)
        .returning(TagView.name)
        .execution_options(synchronize_session=False)
    ).first()
    return None if row is None else str(row.name)


def remove_tag_everywhere(uow: UnitOfWork, tag_id: uuid.UUID, name: str | None) -> int:
    """A deleted tag leaves every customer, in one statement; how many customers lost it.

    Runs in the caller's unit of work (the consumer's); a second run finds nothing to do.
    """
    session = uow.session
    projected_name = forget_tag(session, tag_id)
    lock_customers_of_tag(session, tag_id)
    removed = list(
        session.scalars(
            delete(CustomerTag)
            .where(CustomerTag.tag_id == tag_id)
            .returning(CustomerTag.customer_id)
            .execution_options(synchronize_session=False)
        )
    )
    contacts = touch_customers(session, removed, utcnow())
    known_name = projected_name or name
    names = {tag_id: known_name} if known_name else {}
    pairs = ((customer_id, tag_id) for customer_id in sorted(removed))
    emit_tagging(uow, "customer.untagged", pairs, names, TAG_DELETED, contacts)
    return len(removed)


def move_tag_customers(uow: UnitOfWork, from_id: uuid.UUID, into_id: uuid.UUID) -> int:
    """Every customer of a merged tag gets the surviving tag (once) and loses the merged one.

    Two statements whatever the number of customers; runs in the caller's unit of work; a
    second run finds nothing to move. How many customers lost the merged tag.
    """
    if from_id == into_id:
        return 0
    session = uow.session
    from_name = forget_tag(session, from_id)
    lock_customers_of_tag(session, from_id)
    now = utcnow()
    statement = insert_for(session, CustomerTag).from_select(
        ["customer_id", "tag_id", "created_at"],
        select(
            CustomerTag.customer_id,
            literal(into_id, CustomerTag.tag_id.type),
            literal(now, UtcDateTime()),
        ).where(CustomerTag.tag_id == from_id),
    )
    tagged = list(
        session.scalars(statement.on_conflict_do_nothing().returning(CustomerTag.customer_id))
    )
    untagged = list(
        session.scalars(
            delete(CustomerTag)
            .where(CustomerTag.tag_id == from_id)
            .returning(CustomerTag.customer_id)
            .execution_options(synchronize_session=False)
        )
    )
    contacts = touch_customers(session, {*tagged, *untagged}, now)
    names = tag_names(session, [into_id])
    if from_name is not None:
        names[from_id] = from_name
    emit_tagging(
        uow,
        "customer.tagged",
        ((customer_id, into_id) for customer_id in sorted(tagged)),
        names,
        TAG_MERGED,
        contacts,
    )
    emit_tagging(
        uow,
        "customer.untagged",
        ((customer_id, from_id) for customer_id in sorted(untagged)),
        names,
        TAG_MERGED,
        contacts,
    )
    return len(untagged)
