"""The custom field values a customer carries: checked against the definitions of its kind.

`POST /customers`, `PATCH /customers/{id}` and every import row go through `custom_field_errors`
(from `profiles.editing.apply_profile`), so a value is refused the same way wherever it comes
from. An import reads its cells with `custom_fields_from_cells` first, then validates like any
body.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.customers.fields.models import CustomFieldDefinition
from services.customers.fields.rules import check_value, fits, value_from_text

Definitions = dict[str, CustomFieldDefinition]
"""Every custom field definition, by key."""

_CACHE_KEY = "crm_custom_field_definitions"


def load_definitions(session: Session, lock: bool = False) -> Definitions:
    """Every definition, by key; read once per transaction (an import's chunk asks per row).

    `lock` (writing values): the definitions are read `FOR SHARE`, so that a change of type or
    options, or a deletion, waits for this transaction, and this transaction for it; a value is
    never written under a definition that is being changed (PostgreSQL; SQLite writes one at a
    time anyway).
    """
    cached = session.info.get(_CACHE_KEY)
    if cached is not None and cached[0] is session.get_transaction() and (cached[1] or not lock):
        return dict(cached[2])
    statement = select(CustomFieldDefinition).order_by(CustomFieldDefinition.created_at)
    if lock:
        statement = statement.with_for_update(read=True)
    # No autoflush: a customer being written must not be flushed half-done by this read.
    with session.no_autoflush:
        definitions = {definition.key: definition for definition in session.scalars(statement)}
    session.info[_CACHE_KEY] = (session.get_transaction(), lock, definitions)
    return dict(definitions)


def forget_definitions(session: Session) -> None:
    """Drop the transaction's cached definitions (after changing one)."""
    session.info.pop(_CACHE_KEY, None)


def merged_values(
    definitions: Mapping[str, Any],
    kind: str,
    current: Mapping[str, Any],
    given: Mapping[str, Any] | None,
    creating: bool,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The values a customer of `kind` ends with when `given` is written over `current`, and
    the errors by key (empty when none).

    A null removes a value; a key no definition has, or one not defined for `kind`, is refused;
    on creation every required field of `kind` must have a value, and a required value cannot
    be removed later. Values kept from before must suit `kind` too (a kind that changes).
    """
    values = dict(current)
    errors: dict[str, list[str]] = {}
    for key, value in (given or {}).items():
        definition = definitions.get(key)
        if definition is None:
            known = ", ".join(definitions) or "none is defined"
            errors[key] = [f"no custom field has the key {key!r} (known: {known})"]
            continue
        ours = kind in definition.kinds
        if value is None:
            if definition.required and ours:
                errors[key] = [f"{definition.label} is required and cannot be removed"]
            values.pop(key, None)
            continue
        if not ours:
            errors[key] = [f"{key} is not a field of {kind} customers"]
            continue
        try:
            values[key] = check_value(definition, value)
        except ValueError as exc:
            errors[key] = [str(exc)]
    for key in values:
        definition = definitions.get(key)
        if key not in errors and (definition is None or kind not in definition.kinds):
            errors[key] = [f"{key} is not a field of {kind} customers; send null to remove it"]
    if creating:
        for key, definition in definitions.items():
            if definition.required and kind in definition.kinds and key not in values:
                errors.setdefault(key, [f"{definition.label} is required"])
    return values, errors


def custom_field_errors(
    session: Session, customer: Any, given: Mapping[str, Any] | None, creating: bool
) -> dict[str, list[str]]:
    """Write `given` over the customer's values after checking them (nothing written when any
    is refused); the errors by key."""
    if customer.custom_fields is None:  # a customer being built: no column default yet
        customer.custom_fields = {}
    definitions = load_definitions(session, lock=True)
    if not definitions and not given and not customer.custom_fields:
        return {}
    current = customer.custom_fields
    values, errors = merged_values(definitions, customer.kind, current, given, creating)
    if not errors and values != current:
        customer.custom_fields = values
    return errors


def take_custom_fields(session: Session, survivor: Any, duplicate: Any) -> None:
    """A merge: the survivor keeps its values and takes the duplicate's others, those its own
    kind has a field for (a value the definition no longer takes is left behind)."""
    definitions = load_definitions(session)
    taken = {
        key: value
        for key, value in (duplicate.custom_fields or {}).items()
        if key not in (survivor.custom_fields or {})
        and key in definitions
        and fits(definitions[key], survivor.kind, value)
    }
    if taken:
        survivor.custom_fields = {**(survivor.custom_fields or {}), **taken}


def custom_fields_from_cells(
    definitions: Mapping[str, Any], cells: Mapping[str, str]
) -> dict[str, Any]:
    """The `custom_fields` of a request body from a CSV row's cells by column key (for imports).

    Blank cells are left out; a cell whose column is no custom field is left out too (the
    caller recognises the columns by `definitions`' keys). Each cell is read by its field's
    type (`rules.value_from_text`): what is not a value of that type stays as written, so that
    the validation of `POST /customers` refuses it under `custom_fields.<key>`.
    """
    values: dict[str, Any] = {}
    for key, cell in cells.items():
        definition = definitions.get(key)
        if definition is None or not cell.strip():
            continue
        value = value_from_text(definition, cell)
        # JSON has no Decimal: a number read from text goes on as a float or an int.
        values[key] = _json_number(value)
    return values


def _json_number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
