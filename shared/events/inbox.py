"""The inbox: the events a service has handled, so that a redelivery has no second effect.

An event is known by its type's owner and its id (`owners.inbox_source`), recorded in the same
transaction as its handlers' changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.db import InboxMessage, UnitOfWork, table_of, utcnow
from shared.events.envelope import CloudEvent
from shared.events.owners import inbox_source


def record_in_inbox(uow: UnitOfWork, events: Sequence[CloudEvent]) -> set[str]:
    """Note events as handled in this transaction; the ids of those not already noted.

    An event is known by its type's owner and its id (`owners.inbox_source`).
    """
    rows = {(inbox_source(event.type), _event_uuid(event.id)): event for event in events}
    if not rows:
        return set()
    now = utcnow()
    if uow.session.get_bind().dialect.name == "postgresql":
        inserted = _insert_on_postgresql(uow.session, rows, now)
    else:
        inserted = _insert_elsewhere(uow.session, rows, now)
    return {rows[key].id for key in inserted}


def _insert_on_postgresql(
    session: Session, rows: dict[tuple[str, uuid.UUID], CloudEvent], now: datetime
) -> list[tuple[str, uuid.UUID]]:
    """Insert the rows not yet there; the keys of those inserted.

    One short statement on the session's own psycopg connection, in its transaction: the hot
    path of every consumer, so SQLAlchemy's execution machinery (a fifth of a one-event
    transaction's CPU) is left out. One event is one row of scalar parameters; a batch is one
    array per column, parsed and planned once whatever its size. A concurrent duplicate waits
    on the key, then skips.
    """
    driver: Any = session.connection().connection.driver_connection
    with driver.cursor() as cursor:
        if len(rows) == 1:
            (((source, key), event),) = rows.items()
            cursor.execute(_INBOX_ONE, (source, key, event.type, now))
        else:
            cursor.execute(
                _INBOX_UNNEST,
                (
                    now,
                    [source for source, _ in rows],
                    [key for _, key in rows],
                    [event.type for event in rows.values()],
                ),
            )
        return cursor.fetchall()  # type: ignore[no-any-return]


def _insert_elsewhere(
    session: Session, rows: dict[tuple[str, uuid.UUID], CloudEvent], now: datetime
) -> list[tuple[str, uuid.UUID]]:
    """`_insert_on_postgresql` through SQLAlchemy: SQLite's one statement for the batch (a
    concurrent duplicate waits on the key, then skips), or a look-up then an insert."""
    values = [
        {"source": source, "event_id": key, "type": event.type, "received_at": now}
        for (source, key), event in rows.items()
    ]
    if session.get_bind().dialect.name == "sqlite":
        return [(row[0], row[1]) for row in session.execute(_INBOX_INSERT["sqlite"], values)]
    inbox = table_of(InboxMessage)
    known = {
        (row[0], row[1])
        for row in session.execute(
            select(inbox.c.source, inbox.c.event_id).where(
                inbox.c.event_id.in_([key for _, key in rows])
            )
        )
    }
    inserted = [key for key in rows if key not in known]
    session.execute(insert(inbox), [v for v in values if (v["source"], v["event_id"]) in inserted])
    return inserted


def _inbox_insert(insert: Any) -> Any:
    inbox = table_of(InboxMessage)
    return (
        insert(inbox)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(inbox.c.source, inbox.c.event_id)
    )


_INBOX_INSERT = {"sqlite": _inbox_insert(sqlite_insert)}
_INBOX_ONE = (
    "INSERT INTO inbox (source, event_id, type, received_at) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id"
)
_INBOX_UNNEST = (
    "INSERT INTO inbox (source, event_id, type, received_at)"
    " SELECT source, event_id, type, %s FROM unnest(%s::text[], %s::uuid[], %s::text[])"
    " AS batch(source, event_id, type)"
    " ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id"
)


def purge_inbox(session_factory: Any, older_than: timedelta = timedelta(days=30)) -> int:
    """Forget handled event ids past the longest redelivery window; how many went."""
    with session_factory() as session, session.begin():
        result = session.execute(
            delete(InboxMessage).where(InboxMessage.received_at < utcnow() - older_than)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def _event_uuid(event_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(event_id)
    except ValueError:
        # Ids from other systems need not be UUIDs; a stable UUID of the text stands in for them.
        return uuid.uuid5(uuid.NAMESPACE_URL, event_id)
