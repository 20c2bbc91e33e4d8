"""Use cases of custom field definitions (C13): one transaction each.

Removing a definition removes its values from every customer in one statement, each customer
changed getting its `customer.updated` (`changed: ["custom_fields"]`). A change of type, options
or kinds is checked against the values customers hold, with the very rules values are written
with (`rules.fits`): a value it would strand makes the change a 409 that counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Text, func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.customers.events import contact_of
from services.customers.fields.errors import (
    FieldKeyTaken,
    FieldNotFound,
    InvalidDefinition,
    ValuesInTheWay,
)
from services.customers.fields.models import CustomFieldDefinition
from services.customers.fields.rules import KINDS, fits, options_error
from services.customers.fields.values import forget_definitions
from services.customers.models import Customer
from services.customers.tagging.set_based import CONTACT_COLUMNS, dialect_name
from shared.db import UnitOfWork, utcnow

Precondition = Callable[[CustomFieldDefinition], None]
"""Checked on the locked definition before a change (e.g. If-Match); raises to refuse."""

EDITABLE = ("label", "kinds", "type", "options", "required")
SCAN_BATCH = 5000


# --- reads --------------------------------------------------------------------------------------
def list_fields(
    sessions: sessionmaker[Session], limit: int, after: str | None
) -> tuple[list[CustomFieldDefinition], str | None]:
    """A page of definitions by key; the key the next page starts after, if any."""
    stmt = select(CustomFieldDefinition).order_by(CustomFieldDefinition.key).limit(limit + 1)
    if after is not None:
        stmt = stmt.where(CustomFieldDefinition.key > after)
    with sessions() as session:
        found = list(session.scalars(stmt))
    if len(found) <= limit:
        return found, None
    return found[:limit], found[limit - 1].key


def get_field(sessions: sessionmaker[Session], key: str) -> CustomFieldDefinition:
    """One definition; FieldNotFound."""
    with sessions() as session:
        definition = session.get(CustomFieldDefinition, key)
    if definition is None:
        raise FieldNotFound(key)
    return definition


# --- writes -------------------------------------------------------------------------------------
def create_field(uow: UnitOfWork, body: Mapping[str, Any]) -> CustomFieldDefinition:
    """A new definition; FieldKeyTaken, InvalidDefinition (options that do not suit the type)."""
    kinds = list(body.get("kinds") or KINDS)
    options = list(body.get("options") or [])
    _check_parts(body["type"], options, kinds)
    with uow:
        if uow.session.get(CustomFieldDefinition, body["key"]) is not None:
            raise FieldKeyTaken(body["key"])
        now = utcnow()
        definition = CustomFieldDefinition(
            key=body["key"],
            label=body["label"],
            kinds=kinds,
            type=body["type"],
            options=options,
            required=bool(body.get("required", False)),
            version=1,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(definition)
        try:
            uow.session.flush()
        except IntegrityError:
            uow.rollback()
            raise FieldKeyTaken(body["key"]) from None
        uow.commit()
    return definition


def update_field(
    uow: UnitOfWork,
    key: str,
    changes: Mapping[str, Any],
    precondition: Precondition | None = None,
) -> CustomFieldDefinition:
    """Change a definition; ValuesInTheWay when customers hold values it could not take."""
    with uow:
        definition = _locked(uow.session, key)
        if precondition is not None:
            precondition(definition)
        wanted = {name: getattr(definition, name) for name in EDITABLE}
        wanted.update({name: changes[name] for name in EDITABLE if name in changes})
        if "type" in changes and changes["type"] != "choice" and "options" not in changes:
            wanted["options"] = []
        wanted["kinds"], wanted["options"] = list(wanted["kinds"]), list(wanted["options"])
        _check_parts(wanted["type"], wanted["options"], wanted["kinds"])
        before = {name: getattr(definition, name) for name in EDITABLE}
        if wanted == before:
            uow.commit()
            return definition
        for name, value in wanted.items():
            setattr(definition, name, value)
        if any(wanted[name] != before[name] for name in ("type", "options", "kinds")):
            stranded = _values_not_fitting(uow.session, definition)
            if stranded:
                raise ValuesInTheWay(key, stranded)
        definition.version += 1
        definition.updated_at = utcnow()
        forget_definitions(uow.session)
        uow.commit()
    return definition


def delete_field(uow: UnitOfWork, key: str, precondition: Precondition | None = None) -> int:
    """Delete a definition and every customer's value of it (one statement); how many
    customers lost a value, each with its `customer.updated`."""
    with uow:
        session = uow.session
        definition = _locked(session, key)
        if precondition is not None:
            precondition(definition)
        now = utcnow()
        rows = session.execute(
            update(Customer)
            .where(has_value(session, key))
            .values(
                custom_fields=_without(session, key),
                version=Customer.version + 1,
                updated_at=now,
            )
            .returning(Customer.id, *CONTACT_COLUMNS)
            .execution_options(synchronize_session=False)
        ).all()
        changed = uow.emit_many(
            "customer.updated",
            (
                (
                    {
                        "customer_id": str(row.id),
                        "changed": ["custom_fields"],
                        "customer": contact_of(row),
                    },
                    str(row.id),
                )
                for row in rows
            ),
        )
        session.delete(definition)
        forget_definitions(session)
        uow.commit()
    return changed


# --- internals ----------------------------------------------------------------------------------
def _check_parts(type: str, options: list[str], kinds: list[str]) -> None:
    if (problem := options_error(type, options)) is not None:
        raise InvalidDefinition("options", problem)
    if not kinds:
        raise InvalidDefinition("kinds", "a custom field is for individuals, companies or both")


def _locked(session: Session, key: str) -> CustomFieldDefinition:
    definition = session.scalar(
        select(CustomFieldDefinition).where(CustomFieldDefinition.key == key).with_for_update()
    )
    if definition is None:
        raise FieldNotFound(key)
    return definition


def has_value(session: Session, key: str) -> ColumnElement[bool]:
    """Customers that hold a value of `key` (JSONB `?` on PostgreSQL, `json_type` on SQLite)."""
    if dialect_name(session) == "postgresql":
        return Customer.custom_fields.op("?", return_type=Boolean)(literal(key, Text))
    return func.json_type(Customer.custom_fields, json_path(key)).is_not(None)


def json_path(key: str) -> str:
    """SQLite's JSON path of a key (keys are letters, digits and `_`: nothing to escape)."""
    return f'$."{key}"'


def _without(session: Session, key: str) -> ColumnElement[Any]:
    if dialect_name(session) == "postgresql":
        return Customer.custom_fields.op("-", return_type=JSONB)(literal(key, Text))
    return func.json_remove(Customer.custom_fields, json_path(key))


def _values_not_fitting(session: Session, definition: CustomFieldDefinition) -> int:
    """How many customers hold a value of the definition's key it cannot take (for their kind)."""
    rows = session.execute(
        select(Customer.kind, Customer.custom_fields)
        .where(has_value(session, definition.key))
        .execution_options(yield_per=SCAN_BATCH)
    )
    return sum(1 for kind, values in rows if not fits(definition, kind, values.get(definition.key)))
