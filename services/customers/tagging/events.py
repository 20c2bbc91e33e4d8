"""The events of tags on customers: `customer.tagged` / `customer.untagged`, their data and why.

`set_based.tagging_json` builds the same data in SQL, for the statements that write their events
on PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.customers.models import TagView
from services.customers.tagging.set_based import Contacts
from shared.db import UnitOfWork

MANUAL = "manual"
TAG_DELETED = "tag.deleted"
TAG_MERGED = "tag.merged"


def tag_names(session: Session, tag_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The projected names of these tags (a tag not projected has none)."""
    wanted = sorted(set(tag_ids))
    if not wanted:
        return {}
    rows = session.execute(select(TagView.id, TagView.name).where(TagView.id.in_(wanted)))
    return {row.id: row.name for row in rows}


def tagging_data(
    customer_id: uuid.UUID,
    tag_id: uuid.UUID,
    tag_name: str | None,
    reason: str,
    contacts: Contacts,
) -> dict[str, Any]:
    """The data of `customer.tagged` / `customer.untagged`."""
    return {
        "customer_id": str(customer_id),
        "tag_id": str(tag_id),
        "tag_name": tag_name,
        "reason": reason,
        "customer": contacts[customer_id],
    }


def emit_tagging(
    uow: UnitOfWork,
    kind: str,
    pairs: Iterable[tuple[uuid.UUID, uuid.UUID]],
    names: Mapping[uuid.UUID, str],
    reason: str,
    contacts: Contacts,
) -> int:
    """Write one `kind` event per (customer, tag) pair to the outbox, in bulk; how many."""

    def events() -> Iterator[tuple[dict[str, Any], str]]:
        for customer_id, tag_id in pairs:
            data = tagging_data(customer_id, tag_id, names.get(tag_id), reason, contacts)
            yield data, str(customer_id)

    return uow.emit_many(kind, events())
