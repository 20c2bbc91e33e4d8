"""A chunk of an import's rows sorted out: each validated exactly as `POST /customers` validates
it (its schema, then `new_customer`: status, names, phones, VAT, consent), then new, a duplicate
inside the file, a customer already known (skipped or updated), or rejected with its reasons.

Nothing is written here but the look-ups: `writing` inserts the new customers set-based, and
`runner` applies updates one by one (as `PATCH /customers/{id}` does).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import marshmallow as ma
from sqlalchemy import ColumnElement, String, bindparam, cast, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from services.customers.imports.models import ImportEmail, ImportJob
from services.customers.imports.parsing import Row
from services.customers.models import ConsentRecord, Customer
from services.customers.profiles import validation
from services.customers.profiles.consent import channel_states, consent_changes, proof_from
from services.customers.profiles.errors import InvalidProfile
from services.customers.profiles.schemas import CustomerCreateSchema
from services.customers.profiles.usecases import new_customer
from services.customers.tagging.projection import name_key
from services.customers.tagging.set_based import dialect_name

Errors = dict[str | None, list[str]]


@dataclass
class NewCustomer:
    """A row that makes a new customer: the customer (transient), its tags and consent records."""

    row: Row
    customer: Customer
    tag_ids: list[uuid.UUID]
    consents: list[ConsentRecord]


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


def sort_rows(
    session: Session,
    job: ImportJob,
    rows: Iterable[Row],
    tags: Mapping[str, str],
    phone_region: str,
    now: datetime,
) -> Sorted:
    """Validate and sort a chunk's rows (see the module)."""
    schema = CustomerCreateSchema()
    result = Sorted()
    loaded: list[tuple[Row, dict[str, Any], str | None]] = []
    for row in rows:
        if row.error is not None:
            result.rejected.append((row, {None: [row.error]}))
            continue
        try:
            body = schema.load(row.body)
        except ma.ValidationError as exc:
            result.rejected.append((row, flat(exc.messages)))
            continue
        key = validation.email_key(body.get("email"))
        if key is not None:
            first = result.emails.get(key)
            if first is not None:
                result.rejected.append((row, _duplicate(body["email"], first)))
                continue
            result.emails[key] = row.number
        loaded.append((row, body, key))
    earlier = _earlier_rows(session, job.id, list(result.emails))
    known = _known_customers(session, list(result.emails))
    for row, body, key in loaded:
        tag_ids = [uuid.UUID(tags[name_key(name)]) for name in row.tags if tags.get(name_key(name))]
        if key is not None and key in earlier:
            result.emails.pop(key)
            result.rejected.append((row, _duplicate(body["email"], earlier[key])))
        elif key is not None and key in known:
            result.known.append(Known(row, known[key], tag_ids))
        else:
            try:
                customer = new_customer(session, body, phone_region, now)
                consents = consent_changes(
                    customer, {}, channel_states(customer), job.requested_by, proof_from(body), now
                )
            except InvalidProfile as exc:
                if key is not None:
                    result.emails.pop(key)
                result.rejected.append((row, profile_errors(exc)))
                continue
            result.new.append(NewCustomer(row, customer, tag_ids, consents))
    return result


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


def _duplicate(email: str, first: int) -> Errors:
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


def _known_customers(session: Session, keys: list[str]) -> dict[str, uuid.UUID]:
    """The customers whose email is among `keys`, by email key."""
    if not keys:
        return {}
    rows = session.execute(
        select(Customer.email_key, Customer.id).where(_key_in(session, Customer.email_key, keys))
    )
    return {row.email_key: row.id for row in rows}


def _key_in(session: Session, column: Any, keys: list[str]) -> ColumnElement[bool]:
    """`column` is one of `keys`; on PostgreSQL the list is one `text[]` parameter."""
    if dialect_name(session) == "postgresql":
        array = bindparam(None, keys, type_=postgresql.ARRAY(String()), unique=True)
        return column.in_(select(func.unnest(cast(array, postgresql.ARRAY(String())))))  # type: ignore[no-any-return]
    return column.in_(keys)  # type: ignore[no-any-return]
