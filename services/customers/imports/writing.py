"""Writing a chunk's new customers set-based, with their phones, lists, consents and tags, and
one `customer.created` per customer and one `customer.tagged` per tag (reason `import`).

PostgreSQL: the rows are COPied into a temporary staging table (dropped at commit), then each
table is filled by one `INSERT … SELECT` from it, and the events are built by PostgreSQL in the
statements that insert (`set_based.emit_in_sql`), as bulk actions build theirs. A customer whose
email another request took since the chunk looked (`ON CONFLICT DO NOTHING`) is left out, with
everything of theirs; the caller learns which. SQLite (the embedded mode) inserts the same
records with `executemany` and writes the events through `emit_many`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Integer,
    MetaData,
    Table,
    Text,
    cast,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from services.customers.events import CONTACT_FIELDS, contact_json, contact_of
from services.customers.imports.copy_text import copy_value
from services.customers.imports.models import ImportEmail
from services.customers.imports.rows import CUSTOMER_COLUMNS, STAGED_COLUMNS, NewCustomer
from services.customers.models import (
    ConsentRecord,
    Customer,
    CustomerTag,
    NewsletterSubscription,
    Phone,
)
from services.customers.profiles.usecases import created_data
from services.customers.tagging.set_based import emit_in_sql, tagging_events
from services.customers.tagging.usecases import emit_tagging, tag_names
from shared.db import UnitOfWork, UtcDateTime, table_of

IMPORT = "import"
"""The reason of the `customer.tagged` events of an import."""

CUSTOMERS = table_of(Customer)
EXTRA = ("row", "phones", "lists", "consents", "tag_ids")
COPY_LINES = 1_000
"""Staging rows written to the COPY at once."""
STAGING = Table(
    "customer_import_staging",
    MetaData(),
    *(Column(column.name, column.type) for column in CUSTOMERS.columns),
    Column("row", Integer),
    Column("phones", JSON),
    Column("lists", JSON),
    Column("consents", JSON),
    Column("tag_ids", JSON),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def write_new_customers(uow: UnitOfWork, new: Sequence[NewCustomer], now: datetime) -> set[int]:
    """Insert these customers and everything of theirs, with their events; the rows written
    (a row whose email was taken meanwhile is not)."""
    if not new:
        return set()
    if uow.session.get_bind().dialect.name == "postgresql":
        return _write_postgresql(uow, new, now)
    return _write_executemany(uow, new, now)


def remember_emails(session: Session, import_id: uuid.UUID, emails: Mapping[str, int]) -> None:
    """Record the emails a chunk's rows took, with their row (a later row with one of them is
    a duplicate inside the file); on PostgreSQL one statement with one JSON parameter (a text
    that PostgreSQL parses, where psycopg's arrays are dumped value by value in Python)."""
    if not emails:
        return
    if session.get_bind().dialect.name != "postgresql":
        rows = [{"import_id": import_id, "email_key": k, "row": n} for k, n in emails.items()]
        session.execute(insert(ImportEmail), rows)
        return
    session.execute(
        text(
            "INSERT INTO customer_import_emails (import_id, email_key, row)"
            " SELECT :import_id, e.key, CAST(e.value AS integer)"
            " FROM json_each_text(CAST(:emails AS json)) AS e"
        ),
        {"import_id": import_id, "emails": json.dumps(emails)},
    )


# --- PostgreSQL ---------------------------------------------------------------------------------
def _write_postgresql(uow: UnitOfWork, new: Sequence[NewCustomer], now: datetime) -> set[int]:
    session = uow.session
    connection = session.connection()
    STAGING.create(connection)
    cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    columns = ", ".join(f'"{name}"' for name in (*STAGED_COLUMNS, "row", "tag_ids"))
    tag_ids_text: dict[tuple[uuid.UUID, ...], str] = {}
    with cursor, cursor.copy(f"COPY {STAGING.name} ({columns}) FROM STDIN") as copy:
        for start in range(0, len(new), COPY_LINES):
            copy.write(
                "".join(
                    _staged_line(item, tag_ids_text) for item in new[start : start + COPY_LINES]
                )
            )
    staging = STAGING
    inserted = (
        postgresql.insert(CUSTOMERS)
        .from_select(
            list(CUSTOMER_COLUMNS),
            select(*(staging.c[name] for name in CUSTOMER_COLUMNS)).order_by(staging.c.row),
        )
        .on_conflict_do_nothing()
        .returning(
            CUSTOMERS.c.id,
            CUSTOMERS.c.kind,
            CUSTOMERS.c.status,
            *(CUSTOMERS.c[name] for name in CONTACT_FIELDS),
        )
        .cte("inserted")
    )
    data = func.json_build_object(
        "customer_id", cast(inserted.c.id, Text),
        "kind", inserted.c.kind,
        "status", inserted.c.status,
        "customer", contact_json(inserted.c),
    )  # fmt: skip
    events = select(data.label("data"), cast(inserted.c.id, Text).label("subject"))
    written = emit_in_sql(uow, "customer.created", events, inserted)
    if written < len(new):
        # Rows another request's customer took the email of: leave the staging without them.
        session.execute(
            text(
                f"DELETE FROM {STAGING.name} s"
                " WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = s.id)"
            )
        )
    for statement in _CHILDREN:
        session.execute(text(statement))
    _tag_postgresql(uow, now)
    rows = session.execute(text(f"SELECT row FROM {STAGING.name}")).scalars()
    return set(rows)


_CHILDREN = (
    "INSERT INTO customer_phones (position, number, type, sms, whatsapp, viber, customer_id)"
    f" SELECT p.*, s.id FROM {STAGING.name} s, json_to_recordset(s.phones)"
    " AS p(position integer, number text, type text, sms boolean, whatsapp boolean,"
    " viber boolean)",
    "INSERT INTO customer_newsletter_lists (customer_id, list_name)"
    f" SELECT s.id, l.name FROM {STAGING.name} s, json_array_elements_text(s.lists) AS l(name)",
    "INSERT INTO consent_records (customer_id, channel, granted, source, obtained_at,"
    " recorded_by, recorded_at)"
    f" SELECT s.id, c.* FROM {STAGING.name} s, json_to_recordset(s.consents)"
    " AS c(channel text, granted boolean, source text, obtained_at timestamptz,"
    " recorded_by text, recorded_at timestamptz)",
)


def _tag_postgresql(uow: UnitOfWork, now: datetime) -> None:
    """The staged customers' tag links and their `customer.tagged` events, in one statement."""
    staging = STAGING
    tag = func.json_array_elements_text(staging.c.tag_ids).table_valued("value").alias("tag")
    links = (
        postgresql.insert(CustomerTag)
        .from_select(
            ["customer_id", "tag_id", "created_at"],
            select(
                staging.c.id,
                cast(tag.c.value, CustomerTag.tag_id.type),
                literal(now, UtcDateTime()),
            ).select_from(staging.join(tag, literal(True))),
        )
        .on_conflict_do_nothing()
        .returning(CustomerTag.customer_id, CustomerTag.tag_id)
        .cte("links")
    )
    emit_in_sql(uow, "customer.tagged", tagging_events(links, staging, IMPORT), links)


def _staged_line(item: NewCustomer, tag_ids_text: dict[tuple[uuid.UUID, ...], str]) -> str:
    """A staging row in COPY text: the record's `staged` line (made where the row was checked),
    its row number and its tags' ids (a chunk's rows share a few sets of tags: each set's text
    is made once, in `tag_ids_text`)."""
    tag_ids = tuple(item.tag_ids)
    if (tags := tag_ids_text.get(tag_ids)) is None:
        tags = tag_ids_text[tag_ids] = copy_value([str(tag_id) for tag_id in tag_ids])
    return f"{item.record.staged_line()}\t{item.row.number}\t{tags}\n"


# --- SQLite (and any other backend) -------------------------------------------------------------
def _write_executemany(uow: UnitOfWork, new: Sequence[NewCustomer], now: datetime) -> set[int]:
    session = uow.session
    session.execute(insert(Customer), [item.record.columns for item in new])
    children: list[tuple[Any, list[dict[str, Any]]]] = [
        (
            Phone,
            [{"customer_id": _id(item), **phone} for item in new for phone in item.record.phones],
        ),
        (
            NewsletterSubscription,
            [
                {"customer_id": _id(item), "list_name": name}
                for item in new
                for name in item.record.lists
            ],
        ),
        (
            ConsentRecord,
            [{"customer_id": _id(item), **c} for item in new for c in item.record.consents],
        ),
        (
            CustomerTag,
            [
                {"customer_id": _id(item), "tag_id": tag_id, "created_at": now}
                for item in new
                for tag_id in dict.fromkeys(item.tag_ids)
            ],
        ),
    ]
    for model, values in children:
        if values:
            session.execute(insert(model), values)
    customers = [SimpleNamespace(**item.record.columns) for item in new]
    uow.emit_many("customer.created", ((created_data(c), str(c.id)) for c in customers))
    pairs = [(_id(item), tag_id) for item in new for tag_id in dict.fromkeys(item.tag_ids)]
    if pairs:
        contacts = {customer.id: contact_of(customer) for customer in customers}
        names = tag_names(session, {tag_id for _, tag_id in pairs})
        emit_tagging(uow, "customer.tagged", pairs, names, IMPORT, contacts)
    return {item.row.number for item in new}


def _id(item: NewCustomer) -> uuid.UUID:
    customer_id: uuid.UUID = item.record.columns["id"]
    return customer_id
