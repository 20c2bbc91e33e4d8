"""The timeline's use cases: a page of entries, custom entries, the summary."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

import nh3
from sqlalchemy import Integer, Select, bindparam, func, select, tuple_
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import Customer, TimelineEntry
from services.customers.profiles.errors import CustomerNotFound
from services.customers.timeline.attachments import attachments_of
from services.customers.timeline.entries import CUSTOM
from services.customers.timeline.errors import EntryNotFound, EventEntryIsFixed
from services.customers.timeline.summary import add_to_summaries, refresh_summaries
from services.customers.timeline.titles import language_of, title_of
from shared.db import UnitOfWork, utcnow

SortKey = tuple[datetime, uuid.UUID]
"""Where a page ends: its last entry's time and id."""

# The safe subset of HTML a note keeps: formatting and links (http, https, mailto only).
NOTE_TAGS = {
    "p", "br", "b", "strong", "i", "em", "u", "s", "ul", "ol", "li", "a", "blockquote",
    "code", "pre", "h1", "h2", "h3", "h4",
}  # fmt: skip
NOTE_ATTRIBUTES = {"a": {"href", "title"}}
NOTE_URL_SCHEMES = {"http", "https", "mailto"}


def sanitise_note(note: str) -> str:
    """A rich-text note reduced to safe HTML: no script, no event handler, no `javascript:`."""
    return nh3.clean(
        note,
        tags=NOTE_TAGS,
        attributes=NOTE_ATTRIBUTES,
        url_schemes=NOTE_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


@dataclass(frozen=True, slots=True)
class EntryView:
    """An entry as the API answers it (the title in the customer's language)."""

    id: uuid.UUID
    type: str
    title: str
    note: str | None
    occurred_at: datetime
    event_id: str | None
    actor: str | None
    version: int
    attachments: list[Any] = field(default_factory=list)


def view_of(entry: Any, language: str) -> EntryView:
    """An entry (a `TimelineEntry` or a row of its columns) as the API answers it."""
    title = entry.title if entry.type == CUSTOM else None
    return EntryView(
        id=entry.id,
        type=entry.type,
        title=title or title_of(entry.type, entry.details or {}, language),
        note=entry.note,
        occurred_at=entry.occurred_at,
        event_id=entry.event_id,
        actor=entry.actor,
        version=entry.version,
    )


def _language(session: Session, customer_id: uuid.UUID) -> str:
    """The customer's title language; CustomerNotFound."""
    found = session.execute(
        select(Customer.id, Customer.language).where(Customer.id == customer_id)
    ).one_or_none()
    if found is None:
        raise CustomerNotFound(customer_id)
    return language_of(found.language)


# The entry columns a page shows (no ORM objects: a page is read, never changed).
_PAGE_COLUMNS = tuple(
    getattr(TimelineEntry, name)
    for name in ("id", "type", "title", "note", "details", "occurred_at", "event_id", "actor",
                 "version")
)  # fmt: skip


@lru_cache(maxsize=16)
def _page_statement(types: bool, since: bool, until: bool, after: bool) -> Select[Any]:
    """A page's statement for the filters given, built once (a page is the timeline's hot read:
    building the statement again cost as much as reading its rows). The customer's language
    rides along as a scalar subquery ('' when it has none, NULL when the customer is unknown)."""
    language = (
        select(func.coalesce(Customer.language, ""))
        .where(Customer.id == bindparam("customer_id"))
        .scalar_subquery()
    )
    statement = (
        select(*_PAGE_COLUMNS, language.label("language"))
        .where(TimelineEntry.customer_id == bindparam("customer_id"))
        .order_by(TimelineEntry.occurred_at.desc(), TimelineEntry.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
    if types:
        statement = statement.where(TimelineEntry.type.in_(bindparam("types", expanding=True)))
    if since:
        statement = statement.where(TimelineEntry.occurred_at >= bindparam("since"))
    if until:
        statement = statement.where(TimelineEntry.occurred_at <= bindparam("until"))
    if after:
        statement = statement.where(
            tuple_(TimelineEntry.occurred_at, TimelineEntry.id)
            < tuple_(
                bindparam("after_at", type_=TimelineEntry.occurred_at.type),
                bindparam("after_id", type_=TimelineEntry.id.type),
            )
        )
    return statement


def list_entries(
    reads: sessionmaker[Session],
    customer_id: uuid.UUID,
    limit: int,
    types: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
    after: SortKey | None = None,
) -> tuple[list[EntryView], SortKey | None]:
    """A customer's entries, newest first (the event's own time, then id), a page at a time.

    One round trip: the page carries the customer's language ('' when it has none, NULL when
    the customer does not exist); only an empty page asks whether the customer exists."""
    statement = _page_statement(
        bool(types), since is not None, until is not None, after is not None
    )
    parameters: dict[str, Any] = {"customer_id": customer_id, "limit": limit + 1}
    if types:
        parameters["types"] = list(types)
    if since is not None:
        parameters["since"] = since
    if until is not None:
        parameters["until"] = until
    if after is not None:
        parameters["after_at"], parameters["after_id"] = after
    with reads() as session:
        rows = session.execute(statement, parameters).all()
        if not rows:
            _language(session, customer_id)  # CustomerNotFound, or an empty timeline
            return [], None
        if rows[0].language is None:
            raise CustomerNotFound(customer_id)
        title_language = language_of(rows[0].language)
        views = _with_attachments(session, [view_of(row, title_language) for row in rows[:limit]])
    if len(rows) <= limit:
        return views, None
    last = views[-1]
    return views, (last.occurred_at, last.id)


def get_entry(
    reads: sessionmaker[Session], customer_id: uuid.UUID, entry_id: uuid.UUID
) -> EntryView:
    """One entry of a customer; CustomerNotFound, EntryNotFound."""
    with reads() as session:
        language = _language(session, customer_id)
        entry = session.get(TimelineEntry, entry_id)
        if entry is None or entry.customer_id != customer_id:
            raise EntryNotFound(entry_id)
        return _with_attachments(session, [view_of(entry, language)])[0]


def add_custom_entry(
    uow: UnitOfWork, customer_id: uuid.UUID, title: str, note: str | None, actor: str
) -> EntryView:
    """A custom action staff write on a customer's timeline, its note sanitised."""
    with uow:
        language = _language(uow.session, customer_id)
        now = utcnow()
        entry = TimelineEntry(
            id=uuid.uuid4(),
            customer_id=customer_id,
            type=CUSTOM,
            occurred_at=now,
            actor=actor,
            details={},
            title=title,
            note=sanitise_note(note) if note else None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(entry)
        uow.session.flush()
        # The last action, now.
        add_to_summaries(
            uow.session,
            [{"customer_id": customer_id, "id": entry.id, "type": CUSTOM, "occurred_at": now}],
        )
        answer = view_of(entry, language)
        uow.commit()
    return answer


def update_custom_entry(
    uow: UnitOfWork,
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    changes: dict[str, Any],
    precondition: Any = None,
) -> EntryView:
    """Change a custom entry's title or note; an event's entry cannot change (409)."""
    with uow:
        language = _language(uow.session, customer_id)
        entry = _custom_entry(uow.session, customer_id, entry_id)
        if precondition is not None:
            precondition(entry)
        if "title" in changes:
            entry.title = changes["title"]
        if "note" in changes:
            entry.note = sanitise_note(changes["note"]) if changes["note"] else None
        entry.version += 1
        entry.updated_at = utcnow()
        uow.session.flush()
        answer = _with_attachments(uow.session, [view_of(entry, language)])[0]
        uow.commit()
    return answer


def delete_custom_entry(
    uow: UnitOfWork, customer_id: uuid.UUID, entry_id: uuid.UUID, precondition: Any = None
) -> None:
    """Delete a custom entry; an event's entry cannot go (409)."""
    with uow:
        _language(uow.session, customer_id)
        entry = _custom_entry(uow.session, customer_id, entry_id)
        if precondition is not None:
            precondition(entry)
        uow.session.delete(entry)
        uow.session.flush()
        refresh_summaries(uow.session, [customer_id])
        uow.commit()


def _with_attachments(session: Session, views: list[EntryView]) -> list[EntryView]:
    """The views with their custom entries' attachments (one query for a page)."""
    custom = [view.id for view in views if view.type == CUSTOM]
    if not custom:
        return views
    found = attachments_of(session, custom)
    return [replace(view, attachments=found.get(view.id, [])) for view in views]


def _custom_entry(session: Session, customer_id: uuid.UUID, entry_id: uuid.UUID) -> TimelineEntry:
    entry = session.get(TimelineEntry, entry_id, with_for_update=True)
    if entry is None or entry.customer_id != customer_id:
        raise EntryNotFound(entry_id)
    if entry.type != CUSTOM:
        raise EventEntryIsFixed(entry_id)
    return entry
