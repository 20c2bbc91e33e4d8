"""The local copy of the tag catalogue (`TagView`): kept from `tag.*` events, read for tagging."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.customers.models import CustomerTag, TagView
from services.customers.tagging.errors import UnknownTags
from services.customers.tagging.set_based import insert_for


def name_key(name: str) -> str:
    """The form two tag names share when they differ only by case or Unicode composition."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name.strip()).casefold())


def project_tag(session: Session, state: Mapping[str, Any]) -> None:
    """Upsert a tag's state (as `tag.created` or ensure answers it); an older one never wins."""
    updated_at = state["updated_at"]
    if isinstance(updated_at, str):
        updated_at = datetime.fromisoformat(updated_at)
    values = {
        "id": uuid.UUID(str(state["id"])),
        "name": state["name"],
        "color": state["color"],
        "order": state["order"],
        "is_fixed": bool(state["is_fixed"]),
        "updated_at": updated_at,
    }
    statement = insert_for(session, TagView).values(values)
    excluded = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[TagView.id],
            set_={
                TagView.name: excluded.name,
                TagView.color: excluded.color,
                TagView.order: excluded.order,
                TagView.is_fixed: excluded.is_fixed,
                TagView.updated_at: excluded.updated_at,
            },
            where=TagView.updated_at <= excluded.updated_at,
        )
    )


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
