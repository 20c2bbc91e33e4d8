"""Saved filters (segments): list parameters under a name, one transaction per use case."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.customers.fields.errors import UnknownCustomFieldFilter
from services.customers.fields.filters import custom_field_conditions
from services.customers.listing.filters import CustomerFilterSchema
from services.customers.models import Segment
from services.customers.tagging.projection import ensure_tags_known
from services.customers.tagging.tags_client import TagsCatalogue
from shared.api import Refusal
from shared.db import UnitOfWork, utcnow

Precondition = Callable[[Segment], None]
"""Checked on the locked segment before a change (e.g. the request's If-Match); raises to refuse."""

SegmentPosition = tuple[str, uuid.UUID]
"""Where a page of segments ends: the last one's name key, then its id."""


class SegmentNotFound(Refusal, LookupError):
    """No saved filter has this id."""

    status = 404

    def __init__(self, segment_id: uuid.UUID) -> None:
        super().__init__(f"no saved filter (segment) has the id {segment_id}")


class DuplicateSegmentName(Refusal, ValueError):
    """Another saved filter already has this name, whatever the case."""

    status, field = 409, "name"

    def __init__(self, name: str) -> None:
        super().__init__(f"a saved filter named {name!r} already exists")


def segment_name_key(name: str) -> str:
    """The form two names share when they differ only by case or Unicode composition."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name.strip()).casefold())


def stored_filter(params: dict[str, Any]) -> dict[str, Any]:
    """Loaded list parameters as JSON to store (loading it again gives the same parameters)."""
    dumped: dict[str, Any] = CustomerFilterSchema().dump(params)
    return dumped


def list_segments(
    sessions: sessionmaker[Session], limit: int, after: SegmentPosition | None
) -> tuple[list[Segment], SegmentPosition | None]:
    """A page of saved filters by name (whatever the case); the next page's position."""
    stmt = select(Segment).order_by(Segment.name_key, Segment.id)
    if after is not None:
        name_key, segment_id = after
        stmt = stmt.where(
            or_(
                Segment.name_key > name_key,
                and_(Segment.name_key == name_key, Segment.id > segment_id),
            )
        )
    with sessions() as session:
        segments = list(session.scalars(stmt.limit(limit + 1)))
    if len(segments) <= limit:
        return segments, None
    last = segments[limit - 1]
    return segments[:limit], (last.name_key, last.id)


def get_segment(sessions: sessionmaker[Session], segment_id: uuid.UUID) -> Segment:
    """The saved filter with this id; SegmentNotFound otherwise."""
    with sessions() as session:
        segment = session.get(Segment, segment_id)
    if segment is None:
        raise SegmentNotFound(segment_id)
    return segment


def _refuse_taken_name(session: Session, name: str, segment_id: uuid.UUID | None) -> None:
    taken = session.scalar(
        select(Segment.id).where(
            Segment.name_key == segment_name_key(name), Segment.id != segment_id
        )
    )
    if taken is not None:
        raise DuplicateSegmentName(name)


def _flush(uow: UnitOfWork, name: str) -> None:
    # Two requests may take the same name at once: the unique index decides.
    try:
        uow.session.flush()
    except IntegrityError:
        uow.rollback()
        raise DuplicateSegmentName(name) from None


def create_segment(
    uow: UnitOfWork, name: str, filter: dict[str, Any], tags: TagsCatalogue
) -> Segment:
    """Save loaded list parameters under a name no other saved filter has (any case).

    UnknownTags (on `filter.tag`) for a tag neither customers nor the tags service knows.
    """
    _ensure_filter_tags_known(uow, filter, tags)
    with uow:
        _check_custom_fields(uow.session, filter)
        _refuse_taken_name(uow.session, name, None)
        now = utcnow()
        segment = Segment(
            id=uuid.uuid4(),
            name=name,
            name_key=segment_name_key(name),
            filter=stored_filter(filter),
            version=1,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(segment)
        _flush(uow, name)
        uow.commit()
        return segment


def _ensure_filter_tags_known(uow: UnitOfWork, filter: dict[str, Any], tags: TagsCatalogue) -> None:
    ensure_tags_known(uow, filter.get("tag") or [], tags, field=("filter", "tag"))


def _check_custom_fields(session: Session, filter: dict[str, Any]) -> None:
    """A `cf.<key>` no custom field has, or a value its type cannot take, is refused now (422
    on `filter.cf.<key>`), not each time the segment is used."""
    try:
        custom_field_conditions(session, filter.get("cf") or {})
    except UnknownCustomFieldFilter as exc:
        raise exc.in_body("filter") from None


def _locked(uow: UnitOfWork, segment_id: uuid.UUID) -> Segment:
    segment = uow.session.scalar(select(Segment).where(Segment.id == segment_id).with_for_update())
    if segment is None:
        raise SegmentNotFound(segment_id)
    return segment


def update_segment(
    uow: UnitOfWork,
    segment_id: uuid.UUID,
    changes: dict[str, Any],
    tags: TagsCatalogue,
    precondition: Precondition | None = None,
) -> Segment:
    """Rename a saved filter and/or replace its filter (its tags known, as on creation)."""
    if "filter" in changes:
        _ensure_filter_tags_known(uow, changes["filter"], tags)
    with uow:
        segment = _locked(uow, segment_id)
        if precondition is not None:
            precondition(segment)
        if "filter" in changes:
            _check_custom_fields(uow.session, changes["filter"])
        changed = False
        name = changes.get("name")
        if name is not None and name != segment.name:
            _refuse_taken_name(uow.session, name, segment.id)
            segment.name, segment.name_key = name, segment_name_key(name)
            changed = True
        if "filter" in changes and stored_filter(changes["filter"]) != segment.filter:
            segment.filter = stored_filter(changes["filter"])
            changed = True
        if changed:
            segment.version += 1
            segment.updated_at = utcnow()
            _flush(uow, segment.name)
        uow.commit()
        return segment


def delete_segment(
    uow: UnitOfWork, segment_id: uuid.UUID, precondition: Precondition | None = None
) -> None:
    """Delete a saved filter (lists and bulk actions that name it then answer 422)."""
    with uow:
        segment = _locked(uow, segment_id)
        if precondition is not None:
            precondition(segment)
        uow.session.delete(segment)
        uow.commit()
