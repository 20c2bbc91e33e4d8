"""The inbox: the events a service has handled, so that a redelivery has no second effect.

An event is known by its type's owner and its id (`owners.inbox_source`), recorded in the same
transaction as its handlers' changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

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
    values = [
        {"source": source, "event_id": key, "type": e.type, "received_at": now}
        for (source, key), e in rows.items()
    ]
    dialect = uow.session.get_bind().dialect.name
    if dialect == "postgresql":
        # One short statement, the batch as one array per column: parsed and planned once,
        # whatever the batch's size (a VALUES list per row is a new statement each time); a
        # concurrent duplicate waits on the key, then skips.
        arrays = {
            "source": [v["source"] for v in values],
            "event_id": [v["event_id"] for v in values],
            "type": [v["type"] for v in values],
            "received_at": now,
        }
        inserted = [tuple(row) for row in uow.session.execute(_INBOX_UNNEST, arrays)]
    elif dialect == "sqlite":
        # One round trip for the batch (a cached statement, its rows as parameters); a
        # concurrent duplicate waits on the key, then skips.
        inserted = [tuple(row) for row in uow.session.execute(_INBOX_INSERT[dialect], values)]
    else:
        inbox = table_of(InboxMessage)
        known = {
            tuple(row)
            for row in uow.session.execute(
                select(inbox.c.source, inbox.c.event_id).where(
                    inbox.c.event_id.in_([key for _, key in rows])
                )
            )
        }
        inserted = [key for key in rows if key not in known]
        uow.session.execute(
            insert(inbox), [v for v in values if (v["source"], v["event_id"]) in inserted]
        )
    return {rows[key].id for key in inserted}  # type: ignore[index]


def _inbox_insert(insert: Any) -> Any:
    inbox = table_of(InboxMessage)
    return (
        insert(inbox)
        .on_conflict_do_nothing(index_elements=["source", "event_id"])
        .returning(inbox.c.source, inbox.c.event_id)
    )


_INBOX_INSERT = {"sqlite": _inbox_insert(sqlite_insert)}
_INBOX_UNNEST = text(
    "INSERT INTO inbox (source, event_id, type, received_at)"
    " SELECT source, event_id, type, :received_at FROM unnest("
    "CAST(:source AS text[]), CAST(:event_id AS uuid[]), CAST(:type AS text[]))"
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
