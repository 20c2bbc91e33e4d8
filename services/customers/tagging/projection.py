"""The local copy of the tag catalogue (`TagView`): kept from `tag.*` events, read for tagging.

A tag id it does not know yet is asked of the tags service before it is refused
(`ensure_tags_known`, the `read_your_writes` rule every projection follows).
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import CustomerTag, TagView
from services.customers.read_your_writes import Owner, Projection
from services.customers.tagging.errors import UnknownTags
from services.customers.tagging.set_based import dialect_name
from shared.db import UnitOfWork, table_of
from shared.events.statements import execute_rows


def name_key(name: str) -> str:
    """The form two tag names share when they differ only by case or Unicode composition."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name.strip()).casefold())


def project_tag(session: Session, state: Mapping[str, Any]) -> None:
    """Upsert a tag's state, as a schema loaded it (`tag.created`/`tag.updated` data, or the
    tags service's answer); an older one never wins.

    Loaded data only: a raw JSON value (the string `"false"`, a time as text) is a TypeError,
    never converted here, where `bool("false")` would be true.
    """
    values = {
        "id": _typed(state, "id", uuid.UUID),
        "name": _typed(state, "name", str),
        "color": _typed(state, "color", str),
        "order": _typed(state, "order", int, nullable=True),
        "is_fixed": _typed(state, "is_fixed", bool),
        "updated_at": _typed(state, "updated_at", datetime),
    }
    execute_rows(session, _TAG_UPSERT[dialect_name(session)], [values])


def _tag_upsert(insert: Any) -> Any:
    # On the table, not the mapped class: a Core statement, which execute_rows can prepare.
    table = table_of(TagView)
    statement = insert(table)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={
            name: excluded[name] for name in ("name", "color", "order", "is_fixed", "updated_at")
        },
        where=table.c.updated_at <= excluded.updated_at,
    )


# Built once, per dialect, and run through the backbone's execute_rows (on PostgreSQL the
# consumer's tag events then skip SQLAlchemy's execution machinery, compiled once).
_TAG_UPSERT = {"postgresql": _tag_upsert(postgresql.insert), "sqlite": _tag_upsert(sqlite.insert)}


def _typed(state: Mapping[str, Any], name: str, kind: type, nullable: bool = False) -> Any:
    value = state[name]
    if value is None and nullable:
        return value
    # bool is an int: an integer field takes no boolean, a boolean field nothing but one.
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)):
        return value
    raise TypeError(f"tag state {name!r} is {value!r}, not a loaded {kind.__name__}")


def known_tag_ids(session: Session, tag_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these tags the projection holds."""
    return set(session.scalars(select(TagView.id).where(TagView.id.in_(tag_ids))))


TAG_PROJECTION: Projection[uuid.UUID] = Projection("tags", known_tag_ids, project_tag)
"""The tag projection as `read_your_writes` fills it from the tags service."""


def ensure_tags_known(
    uow: UnitOfWork,
    tag_ids: Collection[uuid.UUID],
    owner: Owner[uuid.UUID],
    field: str | tuple[str, ...] = "tag_ids",
    location: str = "json",
    reads: sessionmaker[Session] | None = None,
) -> None:
    """Every one of these tags projected, the ones not projected yet asked of the tags service.

    UnknownTags (422 on `field`) names those the tags service does not know either;
    ServiceUnavailable (503) when it cannot be asked; nothing is written in either case.
    """
    unknown = TAG_PROJECTION.ensure_known(uow, tag_ids, owner, reads)
    if unknown:
        raise UnknownTags(unknown, field, location)


def require_tags(
    session: Session, tag_ids: Collection[uuid.UUID], field: str = "tag_ids"
) -> dict[uuid.UUID, TagView]:
    """The projected tags of these ids, share-locked until commit; UnknownTags names the others.

    The lock makes a concurrent `tag.deleted` or `tag.merged` cascade wait for this transaction
    (or this one see the tag gone), so that no customer keeps a tag that no longer exists.
    """
    wanted = sorted(set(tag_ids))
    if not wanted:
        return {}
    found = session.scalars(
        select(TagView).where(TagView.id.in_(wanted)).with_for_update(read=True)
    ).all()
    tags = {tag.id: tag for tag in found}
    missing = [tag_id for tag_id in wanted if tag_id not in tags]
    if missing:
        raise UnknownTags(missing, field)
    return tags


def find_tag_by_name(session: Session, name: str) -> TagView | None:
    """The projected tag with this name, whatever its case; None when customers knows none."""
    candidates = session.scalars(
        select(TagView).where(func.lower(TagView.name) == name.strip().lower())
    ).all()
    key = name_key(name)
    return next((tag for tag in candidates if name_key(tag.name) == key), None)


def display_order(tag: TagView) -> tuple[bool, int, str, str]:
    """Sort key of tags as every list shows them: by order (none last), then by name."""
    return (tag.order is None, tag.order or 0, name_key(tag.name), str(tag.id))


def tags_of_customer(session: Session, customer_id: uuid.UUID) -> list[TagView]:
    """The tags a customer carries that the catalogue knows, in display order."""
    tags = session.scalars(
        select(TagView)
        .join(CustomerTag, CustomerTag.tag_id == TagView.id)
        .where(CustomerTag.customer_id == customer_id)
    ).all()
    return sorted(tags, key=display_order)
