"""Tags on customers (T3): one customer's tags, read, replaced, added and removed.

Every change is set-based (`INSERT … ON CONFLICT DO NOTHING RETURNING`, `DELETE … RETURNING`),
so that what the statements report is what changed, even beside concurrent changes, and only
real changes bump the customer's version and emit `customer.tagged` / `customer.untagged`.

Locks are always taken in the same order: tag projection rows, then customers by id, then their
tag rows; so a request, a bulk action and a cascade (`cascades`) wait for one another but never
deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import Customer, CustomerTag, TagView
from services.customers.tagging.errors import CustomerNotFound, TagCreationForbidden
from services.customers.tagging.events import MANUAL, tag_names, tagging_data

# Re-exported: services/customers/imports/writing.py imports it (and tag_names) from here.
from services.customers.tagging.events import emit_tagging as emit_tagging
from services.customers.tagging.projection import (
    ensure_tags_known,
    find_tag_by_name,
    project_tag,
    require_tags,
    tags_of_customer,
)
from services.customers.tagging.set_based import CONTACT_COLUMNS, insert_for, touch_customers
from services.customers.tagging.tags_client import TagsCatalogue
from shared.db import UnitOfWork, utcnow

Precondition = Callable[[uuid.UUID, int], None]
"""Checked on the locked customer (id, version) before a change, e.g. If-Match; raises to refuse."""


@dataclass(frozen=True)
class CustomerTags:
    """A customer's tags in display order, and the customer's version (its ETag)."""

    customer_id: uuid.UUID
    version: int
    tags: list[TagView]


def list_customer_tags(
    session_factory: sessionmaker[Session], customer_id: uuid.UUID
) -> CustomerTags:
    """A customer's tags; CustomerNotFound."""
    with session_factory() as session:
        version = session.scalar(select(Customer.version).where(Customer.id == customer_id))
        if version is None:
            raise CustomerNotFound(customer_id)
        return CustomerTags(customer_id, version, tags_of_customer(session, customer_id))


def replace_tags(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    tag_ids: Collection[uuid.UUID],
    catalogue: TagsCatalogue,
    precondition: Precondition | None = None,
) -> CustomerTags:
    """Give a customer exactly these tags; CustomerNotFound, UnknownTags, ServiceUnavailable.

    A tag not projected yet is asked of the tags service first (read your writes).
    """
    wanted = set(tag_ids)
    _ensure_tags_for(uow, customer_id, wanted, catalogue, "tag_ids")
    with uow:
        session = uow.session
        _require_customer(session, customer_id)
        require_tags(session, wanted)
        customer = _locked_customer(session, customer_id)
        current = set(
            session.scalars(
                select(CustomerTag.tag_id).where(CustomerTag.customer_id == customer_id)
            )
        )
        result = _apply(uow, customer, wanted - current, current - wanted, precondition, MANUAL)
        uow.commit()
    return result


def add_tag(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    tag_id: uuid.UUID,
    catalogue: TagsCatalogue,
    precondition: Precondition | None = None,
) -> CustomerTags:
    """Give a customer one more tag (a no-op if it has it); CustomerNotFound, UnknownTags,
    ServiceUnavailable. A tag not projected yet is asked of the tags service first."""
    _ensure_tags_for(uow, customer_id, [tag_id], catalogue, "tag_id")
    with uow:
        result = change_tags(
            uow, customer_id, add=[tag_id], precondition=precondition, field="tag_id"
        )
        uow.commit()
    return result


def add_tag_by_name(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    name: str,
    catalogue: TagsCatalogue,
    precondition: Precondition | None = None,
    may_create: bool = False,
) -> CustomerTags:
    """Give a customer the tag of this name, created through the tags service when new.

    Creating a tag needs the caller's own `tags:write` (`may_create`), whatever the door: a
    caller without it gets an existing tag (projected, or found in the tags service when not
    yet projected) and TagCreationForbidden (403) for a new name.

    CustomerNotFound; ServiceUnavailable or TagNameRefused from the tags service, in which case
    nothing changed here. No lock is held while the tags service is called.
    """
    with uow:
        version = uow.session.scalar(select(Customer.version).where(Customer.id == customer_id))
        if version is None:
            raise CustomerNotFound(customer_id)
        if precondition is not None:
            # Checked now too, so that a stale request creates no tag; again under the lock.
            precondition(customer_id, version)
        known = find_tag_by_name(uow.session, name)
        known_id = known.id if known is not None else None
    ensured: dict[str, Any] | None = None
    if known_id is None:
        ensured = catalogue.ensure([name])[0] if may_create else catalogue.find_by_name(name)
        if ensured is None:
            raise TagCreationForbidden(name)
        known_id = ensured["id"]
    tag_id: uuid.UUID = known_id
    with uow:
        if ensured is not None:
            # The tag's `tag.created` may not have reached us yet; its answer stands in for it.
            project_tag(uow.session, ensured)
        result = change_tags(
            uow, customer_id, add=[tag_id], precondition=precondition, field="name"
        )
        uow.commit()
    return result


def remove_tag(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    tag_id: uuid.UUID,
    precondition: Precondition | None = None,
) -> CustomerTags:
    """Take a tag off a customer (a no-op if it does not have it); CustomerNotFound."""
    with uow:
        result = change_tags(uow, customer_id, remove=[tag_id], precondition=precondition)
        uow.commit()
    return result


def change_tags(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    add: Collection[uuid.UUID] = (),
    remove: Collection[uuid.UUID] = (),
    reason: str = MANUAL,
    precondition: Precondition | None = None,
    field: str = "tag_ids",
) -> CustomerTags:
    """Add and remove one customer's tags, an event for each real change; CustomerNotFound,
    UnknownTags (on `field`) when a tag to add is not in the catalogue.

    Does not commit: the caller's unit of work holds the change, like `change_status` (the
    requests above, or automation applying `automation.action_requested`, reason `rule:<id>`).
    """
    session = uow.session
    _require_customer(session, customer_id)
    require_tags(session, add, field)
    customer = _locked_customer(session, customer_id)
    return _apply(uow, customer, set(add), set(remove) - set(add), precondition, reason)


def _ensure_tags_for(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    tag_ids: Collection[uuid.UUID],
    catalogue: TagsCatalogue,
    field: str,
) -> None:
    """The tags to give a customer projected (asked of the tags service when not yet), once the
    customer is known to exist: an unknown customer is a 404 whether or not tags answers."""
    with uow:
        _require_customer(uow.session, customer_id)
    ensure_tags_known(uow, tag_ids, catalogue, field)


def _require_customer(session: Session, customer_id: uuid.UUID) -> None:
    if session.scalar(select(exists().where(Customer.id == customer_id))) is not True:
        raise CustomerNotFound(customer_id)


def _locked_customer(session: Session, customer_id: uuid.UUID) -> Any:
    customer = session.execute(
        select(Customer.id, Customer.version, *CONTACT_COLUMNS)
        .where(Customer.id == customer_id)
        .with_for_update()
    ).first()
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


def _apply(
    uow: UnitOfWork,
    customer: Any,
    to_add: set[uuid.UUID],
    to_remove: set[uuid.UUID],
    precondition: Precondition | None,
    reason: str,
) -> CustomerTags:
    session = uow.session
    customer_id: uuid.UUID = customer.id
    if precondition is not None:
        precondition(customer_id, customer.version)
    now = utcnow()
    added: list[uuid.UUID] = []
    if to_add:
        statement = insert_for(session, CustomerTag).values(
            [{"customer_id": customer_id, "tag_id": tag, "created_at": now} for tag in to_add]
        )
        added = list(
            session.scalars(statement.on_conflict_do_nothing().returning(CustomerTag.tag_id))
        )
    removed: list[uuid.UUID] = []
    if to_remove:
        removed = list(
            session.scalars(
                delete(CustomerTag)
                .where(CustomerTag.customer_id == customer_id, CustomerTag.tag_id.in_(to_remove))
                .returning(CustomerTag.tag_id)
                .execution_options(synchronize_session=False)
            )
        )
    version = customer.version
    if added or removed:
        contacts = touch_customers(session, [customer_id], now)
        version += 1
        names = tag_names(session, [*added, *removed])
        for kind, tags in (("customer.tagged", added), ("customer.untagged", removed)):
            for tag in sorted(tags):
                data = tagging_data(customer_id, tag, names.get(tag), reason, contacts)
                uow.emit(kind, data, subject=str(customer_id))
    return CustomerTags(customer_id, version, tags_of_customer(session, customer_id))
