"""An import's rows checked, then sorted out: each validated exactly as `POST /customers`
validates it (its schema, then `new_customer`: status, names, phones, VAT, custom fields,
consent) by `check_rows` (in the worker, or in processes of its own: `checking`), then, chunk by
chunk, new, a duplicate inside the file, a customer already known (skipped or updated), or
rejected with its reasons.

Nothing is written here: `writing` inserts the new customers set-based, and `runner` applies
updates one by one (as `PATCH /customers/{id}` does).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
from sqlalchemy import JSON, ColumnElement, Text, bindparam, cast, func, select
from sqlalchemy.orm import Session

from services.customers.imports.copy_text import copy_line
from services.customers.imports.fast_load import fast_load
from services.customers.imports.models import ImportEmail, ImportJob
from services.customers.imports.parsing import Row
from services.customers.models import Customer, Status
from services.customers.profiles.consent import channel_states, consent_changes, proof_from
from services.customers.profiles.errors import InvalidProfile
from services.customers.profiles.schemas import CustomerCreateSchema
from services.customers.profiles.usecases import new_customer
from services.customers.profiles.validation import email_key
from services.customers.tagging.projection import name_key
from services.customers.tagging.set_based import dialect_name
from shared.db import table_of, utcnow

Errors = dict[str | None, list[str]]
CUSTOMER_COLUMNS = tuple(column.name for column in table_of(Customer).columns)
PHONE_FIELDS = ("position", "number", "type", "sms", "whatsapp", "viber")
CONSENT_FIELDS = ("channel", "granted", "source", "obtained_at", "recorded_by", "recorded_at")


STAGED_COLUMNS = (*CUSTOMER_COLUMNS, "phones", "lists", "consents")
"""What `NewRecord.staged` holds, in this order."""


@dataclass(frozen=True)
class NewRecord:
    """What a valid row writes (plain values: made in a checking process, they travel pickled):
    on PostgreSQL, `staged`, the customer's columns, phones, newsletter lists and consent
    records as one line of the staging table's COPY text (`STAGED_COLUMNS`), the worker's
    COPY writing it as it is; elsewhere, those as `columns`, `phones`, `lists`, `consents`."""

    key: str | None
    """The email key (None without an email)."""
    staged: str | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    phones: list[dict[str, Any]] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)
    consents: list[dict[str, Any]] = field(default_factory=list)

    def staged_line(self) -> str:
        """`staged`, or the same line made from the plain values."""
        if self.staged is not None:
            return self.staged
        values = map(self.columns.__getitem__, CUSTOMER_COLUMNS)
        return copy_line((*values, self.phones, self.lists, self.consents))


@dataclass(frozen=True)
class Checked:
    """A row validated: `errors` (by `POST /customers`'s schema or the reader), or its email
    and either the customer it makes as a new one or why it cannot (`new_errors`)."""

    errors: Errors | None = None
    email: str | None = None
    key: str | None = None
    new: NewRecord | None = None
    new_errors: Errors | None = None


@dataclass
class NewCustomer:
    """A row that makes a new customer, and the ids of its tags."""

    row: Row
    record: NewRecord
    tag_ids: list[uuid.UUID]


@dataclass
class Known:
    """A row whose email is a customer's already: skipped, or applied to them (`update`)."""

    row: Row
    customer_id: uuid.UUID
    tag_ids: list[uuid.UUID]


@dataclass
class Sorted:
    """A chunk's rows by what becomes of them; `emails` are the rows' email keys to remember."""

    new: list[NewCustomer] = field(default_factory=list)
    known: list[Known] = field(default_factory=list)
    rejected: list[tuple[Row, Errors]] = field(default_factory=list)
    emails: dict[str, int] = field(default_factory=dict)


def check_rows(
    session: Session, rows: Sequence[Row], phone_region: str, actor: str
) -> list[Checked]:
    """Validate each row as `POST /customers` does (its schema, then `new_customer` and the
    consent it records), reading nothing but the statuses and custom field definitions."""
    schema = CustomerCreateSchema()
    # Read once: `new_customer` checks each row's status against them, asking the database
    # only for a key not among them (a status created meanwhile is accepted).
    statuses = set(session.scalars(select(Status.key)))
    staged = dialect_name(session) == "postgresql"
    checked: list[Checked] = []
    for row in rows:
        if row.error is not None:
            checked.append(Checked(errors={None: [row.error]}))
            continue
        try:
            # The common rows without marshmallow's overhead; any other (or refused) by it.
            body = fast_load(row.body) or schema.load(row.body)
        except ma.ValidationError as exc:
            checked.append(Checked(errors=flat(exc.messages)))
            continue
        email, now = body.get("email"), utcnow()
        try:
            customer = new_customer(session, body, phone_region, now, plain=True, statuses=statuses)
            consents = consent_changes(
                customer, {}, channel_states(customer), actor, proof_from(body), now
            )
        except InvalidProfile as exc:
            checked.append(
                Checked(email=email, key=email_key(email), new_errors=profile_errors(exc))
            )
            continue
        key = email_key(email)
        columns = _values(customer, CUSTOMER_COLUMNS)
        phones = [_values(phone, PHONE_FIELDS) for phone in customer.phones]
        lists = [subscription.list_name for subscription in customer.newsletter_lists]
        records = [_values(record, CONSENT_FIELDS) for record in consents]
        if staged:
            line = copy_line((*columns.values(), phones, lists, records))
            checked.append(Checked(email=email, key=key, new=NewRecord(key, staged=line)))
        else:
            record = NewRecord(key, None, columns, phones, lists, records)
            checked.append(Checked(email=email, key=key, new=record))
    return checked


def _values(instance: object, names: tuple[str, ...]) -> dict[str, Any]:
    """The values of a new (transient) instance's columns, read from its `__dict__` rather than
    through the mapped attributes (a column never set is None, as `getattr` answers)."""
    state = instance.__dict__
    return {name: state.get(name) for name in names}


def sort_rows(
    session: Session,
    job: ImportJob,
    rows: Iterable[tuple[Row, Checked]],
    tags: Mapping[str, str],
) -> Sorted:
    """Sort a chunk's checked rows (see the module)."""
    result = Sorted()
    loaded: list[tuple[Row, Checked]] = []
    for row, checked in rows:
        if checked.errors is not None:
            result.rejected.append((row, checked.errors))
            continue
        key = checked.key
        if key is not None:
            first = result.emails.get(key)
            if first is not None:
                result.rejected.append((row, _duplicate(checked.email, first)))
                continue
            result.emails[key] = row.number
        loaded.append((row, checked))
    earlier = _earlier_rows(session, job.id, list(result.emails))
    known = known_customers(session, list(result.emails))
    tag_ids_of = _TagIds(tags)
    for row, checked in loaded:
        key = checked.key
        tag_ids = tag_ids_of(row.tags)
        if key is not None and key in earlier:
            result.emails.pop(key)
            result.rejected.append((row, _duplicate(checked.email, earlier[key])))
        elif key is not None and key in known:
            result.known.append(Known(row, known[key], tag_ids))
        elif checked.new is None:
            if key is not None:
                result.emails.pop(key)
            result.rejected.append((row, checked.new_errors or {}))
        else:
            result.new.append(NewCustomer(row, checked.new, tag_ids))
    return result


class _TagIds:
    """The ids of a row's tag names (those the import knows), each name's looked up once."""

    def __init__(self, tags: Mapping[str, str]) -> None:
        self._tags = tags
        self._ids: dict[str, uuid.UUID | None] = {}

    def __call__(self, names: list[str]) -> list[uuid.UUID]:
        ids = []
        for name in names:
            if name not in self._ids:
                known = self._tags.get(name_key(name))
                self._ids[name] = uuid.UUID(known) if known else None
            if (tag_id := self._ids[name]) is not None:
                ids.append(tag_id)
        return ids


def profile_errors(exc: InvalidProfile) -> Errors:
    """An InvalidProfile's messages by field (`phones.0.number`), else its message."""
    messages = exc.field_errors() or {}
    return flat(messages.get("json", {})) or {None: [exc.message()]}


def flat(messages: Any, prefix: str = "") -> Errors:
    """marshmallow's nested messages as `{"address.country": [...], "phones.0.number": [...]}`."""
    result: Errors = {}
    if isinstance(messages, dict):
        for name, value in messages.items():
            result.update(flat(value, f"{prefix}{name}."))
    elif isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        result[prefix.rstrip(".") or None] = list(messages)
    elif isinstance(messages, list):
        for item in messages:
            result.update(flat(item, prefix))
    else:
        result[prefix.rstrip(".") or None] = [str(messages)]
    return result


def _duplicate(email: str | None, first: int) -> Errors:
    return {"email": [f"{email} is already on row {first}"]}


def _earlier_rows(session: Session, import_id: uuid.UUID, keys: list[str]) -> dict[str, int]:
    """The emails among `keys` an earlier chunk of this import took, with their row."""
    if not keys:
        return {}
    rows = session.execute(
        select(ImportEmail.email_key, ImportEmail.row).where(
            ImportEmail.import_id == import_id, _key_in(session, ImportEmail.email_key, keys)
        )
    )
    return {row.email_key: row.row for row in rows}


def known_customers(session: Session, keys: list[str]) -> dict[str, uuid.UUID]:
    """The customers whose email is among `keys`, by email key."""
    if not keys:
        return {}
    rows = session.execute(
        select(Customer.email_key, Customer.id).where(_key_in(session, Customer.email_key, keys))
    )
    return {row.email_key: row.id for row in rows}


def _key_in(session: Session, column: Any, keys: list[str]) -> ColumnElement[bool]:
    """`column` is one of `keys`; on PostgreSQL the list is one JSON parameter (a text that
    PostgreSQL parses, where psycopg dumps a `text[]` value by value in Python)."""
    if dialect_name(session) == "postgresql":
        document = bindparam(None, json.dumps(keys), type_=Text(), unique=True)
        return column.in_(select(func.json_array_elements_text(cast(document, JSON()))))  # type: ignore[no-any-return]
    return column.in_(keys)  # type: ignore[no-any-return]
