"""The tag catalogue's use cases: one transaction each, its events written to the outbox in it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Uuid,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from services.tags.errors import (
    DuplicateTagName,
    FixedTagProtected,
    InvalidMerge,
    TagNotFound,
)
from services.tags.models import FIXED_TAGS, Tag, TagMembership, name_key
from shared.db import UnitOfWork, utcnow

DEFAULT_COLOR = "#9e9e9e"
DEFAULT_DESCRIPTION = "Étiquette créée à la volée depuis une fiche client."

Precondition = Callable[[Tag], None]
"""Checked on the locked tag before a change (e.g. the request's If-Match); raises to refuse."""

SortKey = tuple[int | None, str, uuid.UUID]
"""Where a page of the list ends: the last tag's order, name key and id."""

EDITABLE_FIELDS = ("name", "description", "color", "order")


# --- events -------------------------------------------------------------------------------------
def tag_state(tag: Tag) -> dict[str, Any]:
    """The tag's full state as `tag.created` / `tag.updated` carry it."""
    return {
        "id": str(tag.id),
        "name": tag.name,
        "description": tag.description,
        "color": tag.color,
        "order": tag.order,
        "is_fixed": tag.is_fixed,
        "created_at": tag.created_at.isoformat(),
        "updated_at": tag.updated_at.isoformat(),
    }


# --- reads --------------------------------------------------------------------------------------
def list_tags(
    sessions: sessionmaker[Session], q: str | None, limit: int, after: SortKey | None
) -> tuple[list[Tag], SortKey | None]:
    """A page of tags by order (none last), then name whatever the case; the next page's key."""
    stmt = select(Tag).order_by(Tag.order.asc().nulls_last(), Tag.name_key, Tag.id)
    if q and q.strip():
        stmt = stmt.where(Tag.name_key.contains(name_key(q), autoescape=True))
    if after is not None:
        stmt = stmt.where(_after(after))
    with sessions() as session:
        tags = list(session.scalars(stmt.limit(limit + 1)))
    if len(tags) <= limit:
        return tags, None
    last = tags[limit - 1]
    return tags[:limit], (last.order, last.name_key, last.id)


def _after(key: SortKey) -> ColumnElement[bool]:
    order, key_name, tag_id = key
    later_in_same_order = or_(
        Tag.name_key > key_name, and_(Tag.name_key == key_name, Tag.id > tag_id)
    )
    if order is None:
        return and_(Tag.order.is_(None), later_in_same_order)
    return or_(
        Tag.order > order,
        Tag.order.is_(None),
        and_(Tag.order == order, later_in_same_order),
    )


def get_tag(sessions: sessionmaker[Session], tag_id: uuid.UUID) -> Tag:
    """The tag with this id; TagNotFound otherwise."""
    with sessions() as session:
        tag = session.get(Tag, tag_id)
    if tag is None:
        raise TagNotFound(tag_id)
    return tag


# --- writes -------------------------------------------------------------------------------------
def create_tag(
    uow: UnitOfWork, name: str, description: str, color: str, order: int | None = None
) -> Tag:
    """A new tag (`tag.created`); DuplicateTagName when the name is taken, whatever the case."""
    key = name_key(name)
    with uow:
        _refuse_taken_name(uow.session, key)
        now = utcnow()
        tag = Tag(
            id=uuid.uuid4(),
            name=name,
            name_key=key,
            description=description,
            color=color,
            order=order,
            is_fixed=False,
            customers_count=0,
            version=1,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(tag)
        _flush_or_duplicate(uow, tag)
        uow.emit("tag.created", tag_state(tag), subject=str(tag.id))
        uow.commit()
    return tag


def update_tag(
    uow: UnitOfWork,
    tag_id: uuid.UUID,
    changes: Mapping[str, Any],
    precondition: Precondition | None = None,
) -> Tag:
    """Change a tag's name, description, colour or order (`tag.updated` if anything changed)."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    with uow:
        tag = _locked_tag(uow.session, tag_id)
        if precondition is not None:
            precondition(tag)
        changed = {field: value for field, value in changes.items() if getattr(tag, field) != value}
        if not changed:
            uow.commit()
            return tag
        if "name" in changed:
            key = name_key(changed["name"])
            if tag.is_fixed:
                raise FixedTagProtected(
                    f"{tag.name!r} is a fixed tag: its name cannot change "
                    "(its colour, description and order can)"
                )
            if key != tag.name_key:
                _refuse_taken_name(uow.session, key)
            tag.name_key = key
        for field, value in changed.items():
            setattr(tag, field, value)
        tag.version += 1
        tag.updated_at = utcnow()
        _flush_or_duplicate(uow, tag)
        uow.emit("tag.updated", tag_state(tag), subject=str(tag.id))
        uow.commit()
    return tag


def delete_tag(
    uow: UnitOfWork, tag_id: uuid.UUID, precondition: Precondition | None = None
) -> None:
    """Delete a tag that is not fixed (`tag.deleted`); customers then drop it everywhere."""
    with uow:
        tag = _locked_tag(uow.session, tag_id)
        if precondition is not None:
            precondition(tag)
        if tag.is_fixed:
            raise FixedTagProtected(
                f"{tag.name!r} is a fixed tag: the suite relies on it, so it cannot be deleted "
                "(you can still change its colour, description and order)"
            )
        uow.session.execute(delete(TagMembership).where(TagMembership.tag_id == tag.id))
        uow.session.delete(tag)
        uow.emit("tag.deleted", {"id": str(tag.id), "name": tag.name}, subject=str(tag.id))
        uow.commit()


def merge_tags(uow: UnitOfWork, from_id: uuid.UUID, into_id: uuid.UUID) -> Tag:
    """Merge one tag into another: its customers join the other, it is deleted (`tag.merged`)."""
    if from_id == into_id:
        raise InvalidMerge("a tag cannot be merged into itself")
    with uow:
        # Both rows locked in id order, so that two crossed merges cannot deadlock.
        locked = uow.session.scalars(
            select(Tag)
            .where(Tag.id.in_([from_id, into_id]))
            .order_by(Tag.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        tags = {tag.id: tag for tag in locked}
        if from_id not in tags:
            raise TagNotFound(from_id)
        if into_id not in tags:
            raise InvalidMerge(f"no tag has the id {into_id}")
        source, target = tags[from_id], tags[into_id]
        if source.is_fixed:
            raise FixedTagProtected(
                f"{source.name!r} is a fixed tag: it cannot be merged away "
                f"(merge {target.name!r} into it instead)"
            )
        _move_memberships(uow.session, source.id, target.id)
        uow.session.execute(delete(TagMembership).where(TagMembership.tag_id == source.id))
        uow.session.delete(source)
        uow.session.flush()
        target.customers_count = _members_count(uow.session, target.id)
        # tag.merged alone says that the source is gone: a tag.deleted could reach customers
        # first and drop the tag from its customers before they are moved.
        uow.emit("tag.merged", {"from": str(source.id), "into": str(target.id)}, str(target.id))
        uow.commit()
    return target


def ensure_tags(uow: UnitOfWork, names: Sequence[str]) -> list[Tag]:
    """The tags with these names (any case), the missing ones created; safe to call concurrently."""
    keys: dict[str, str] = {}
    for name in names:
        keys.setdefault(name_key(name), name)
    with uow:
        now = utcnow()
        rows = [
            {
                "id": uuid.uuid4(),
                "name": name,
                "name_key": key,
                "description": DEFAULT_DESCRIPTION,
                "color": DEFAULT_COLOR,
                "order": None,
                "is_fixed": False,
                "customers_count": 0,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for key, name in keys.items()
        ]
        # Insert first, read after: a concurrent call's row makes ours a no-op instead of an
        # error, and on SQLite the write lock is taken before anything is read.
        created = set(uow.session.scalars(_insert_missing(uow.session, rows)))
        found = uow.session.scalars(select(Tag).where(Tag.name_key.in_(list(keys)))).all()
        by_key = {tag.name_key: tag for tag in found}
        for tag in found:
            if tag.id in created:
                uow.emit("tag.created", tag_state(tag), subject=str(tag.id))
        uow.commit()
    return [by_key[key] for key in keys]


def seed_fixed_tags(uow: UnitOfWork) -> list[Tag]:
    """Create the fixed tags that are missing (`tag.created` each); a tag of that name is kept."""
    created: list[Tag] = []
    with uow:
        for fixed in FIXED_TAGS:
            key = name_key(fixed.name)
            existing = uow.session.scalar(select(Tag).where(Tag.name_key == key))
            if existing is not None:
                continue
            now = utcnow()
            tag = Tag(
                id=fixed.id,
                name=fixed.name,
                name_key=key,
                description=fixed.description,
                color=fixed.color,
                order=fixed.order,
                is_fixed=True,
                customers_count=0,
                version=1,
                created_at=now,
                updated_at=now,
            )
            uow.session.add(tag)
            uow.session.flush()
            uow.emit("tag.created", tag_state(tag), subject=str(tag.id))
            created.append(tag)
        uow.commit()
    return created


# --- internals ----------------------------------------------------------------------------------
def _locked_tag(session: Session, tag_id: uuid.UUID) -> Tag:
    tag = session.scalar(
        select(Tag)
        .where(Tag.id == tag_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if tag is None:
        raise TagNotFound(tag_id)
    return tag


def _refuse_taken_name(session: Session, key: str) -> None:
    existing = session.scalar(select(Tag).where(Tag.name_key == key))
    if existing is not None:
        raise DuplicateTagName(existing)


def _flush_or_duplicate(uow: UnitOfWork, tag: Tag) -> None:
    """Flush; a concurrent request that took the name first makes it a DuplicateTagName."""
    tag_id, key = tag.id, tag.name_key
    try:
        uow.session.flush()
    except IntegrityError:
        uow.rollback()
        existing = uow.session.scalar(select(Tag).where(Tag.name_key == key))
        if existing is None or existing.id == tag_id:
            raise
        raise DuplicateTagName(existing) from None


def _insert_missing(session: Session, rows: list[dict[str, Any]]) -> Any:
    """INSERT … ON CONFLICT (name_key) DO NOTHING RETURNING id, on PostgreSQL or SQLite."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg_stmt = postgresql.insert(Tag).values(rows)
        return pg_stmt.on_conflict_do_nothing(index_elements=[Tag.name_key]).returning(Tag.id)
    if dialect == "sqlite":
        lite_stmt = sqlite.insert(Tag).values(rows)
        return lite_stmt.on_conflict_do_nothing(index_elements=[Tag.name_key]).returning(Tag.id)
    raise NotImplementedError(f"ensure_tags needs PostgreSQL or SQLite, not {dialect}")


def _move_memberships(session: Session, from_id: uuid.UUID, into_id: uuid.UUID) -> None:
    """Every customer of one tag becomes a customer of the other, once (two set-based writes)."""
    source = aliased(TagMembership)
    source_as_of = select(source.as_of).where(
        source.tag_id == from_id,
        source.customer_id == TagMembership.customer_id,
        source.is_member.is_(True),
    )
    session.execute(
        update(TagMembership)
        .where(
            TagMembership.tag_id == into_id,
            TagMembership.is_member.is_(False),
            source_as_of.exists(),
        )
        .values(
            is_member=True,
            as_of=case(
                (
                    source_as_of.scalar_subquery() > TagMembership.as_of,
                    source_as_of.scalar_subquery(),
                ),
                else_=TagMembership.as_of,
            ),
        )
        .execution_options(synchronize_session=False)
    )
    target = aliased(TagMembership)
    session.execute(
        insert(TagMembership).from_select(
            ["tag_id", "customer_id", "is_member", "as_of"],
            select(literal(into_id, Uuid), source.customer_id, true(), source.as_of).where(
                source.tag_id == from_id,
                source.is_member.is_(True),
                ~select(target.customer_id)
                .where(target.tag_id == into_id, target.customer_id == source.customer_id)
                .exists(),
            ),
        )
    )


def _members_count(session: Session, tag_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(TagMembership)
            .where(TagMembership.tag_id == tag_id, TagMembership.is_member.is_(True))
        )
        or 0
    )
