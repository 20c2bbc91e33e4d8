"""Set-based SQL building blocks for tagging, tag cascades and bulk actions, on both backends.

PostgreSQL serves production and SQLite the embedded mode: the same statements must be correct
on both. A list of ids travels as one parameter (a `uuid[]` array on PostgreSQL, a JSON array
read by `json_each` on SQLite), so that 100,000 ids never become 100,000 bind parameters.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, Uuid, bindparam, cast, false, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.customers.events import contact_of
from services.customers.models import Customer

# The columns `services.customers.events.contact_of` reads, selected with a statement's RETURNING.
CONTACT_COLUMNS = (
    Customer.email,
    Customer.language,
    Customer.first_name,
    Customer.last_name,
    Customer.company_name,
    Customer.email_consent,
    Customer.newsletter_subscribed,
)

Contacts = dict[uuid.UUID, dict[str, Any]]


def dialect_name(session: Session) -> str:
    """`postgresql` or `sqlite`: the backend this session talks to."""
    return session.get_bind().dialect.name


def id_in(session: Session, column: Any, ids: Collection[uuid.UUID]) -> ColumnElement[bool]:
    """`column` is one of `ids`, with the whole list bound as a single parameter."""
    if not ids:
        return false()
    dialect = dialect_name(session)
    if dialect == "postgresql":
        # `IN (SELECT unnest(:ids))` is planned as a hash join; `= ANY(:ids)` would compare
        # every row with every id (the array is a parameter, so it is not hashed).
        # One text literal cast to uuid[]: far cheaper to send than 100,000 bound UUIDs.
        literal = "{" + ",".join(str(value) for value in ids) + "}"
        array = cast(bindparam(None, literal, type_=Text(), unique=True), postgresql.ARRAY(Uuid()))
        return column.in_(select(func.unnest(array)))  # type: ignore[no-any-return]
    if dialect == "sqlite":
        # Uuid columns hold 32 hex digits on SQLite.
        listed = func.json_each(json.dumps([value.hex for value in ids])).table_valued("value")
        return column.in_(select(listed.c.value))  # type: ignore[no-any-return]
    return column.in_(list(ids))  # type: ignore[no-any-return]


def insert_for(session: Session, model: Any) -> Any:
    """An INSERT of the session's dialect, which knows `ON CONFLICT` and `RETURNING`."""
    dialect = dialect_name(session)
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise NotImplementedError(f"set-based tagging does not support {dialect}")


def contact_from_row(row: Any) -> dict[str, Any]:
    """The `customer` of an event from a row holding `CONTACT_COLUMNS` (`contact_of` reads it)."""
    return contact_of(row)


def touch_customers(session: Session, ids: Collection[uuid.UUID], now: datetime) -> Contacts:
    """Bump the version and `updated_at` of these customers; their contact fields by id."""
    if not ids:
        return {}
    rows = session.execute(
        update(Customer)
        .where(id_in(session, Customer.id, ids))
        .values(version=Customer.version + 1, updated_at=now)
        .returning(Customer.id, *CONTACT_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    return {row.id: contact_from_row(row) for row in rows}
