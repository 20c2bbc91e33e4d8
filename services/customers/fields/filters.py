"""`cf.<key>=<value>` list parameters: the SQL condition of each, read by its field's type.

On PostgreSQL a filter is `custom_fields @> '{"key": value}'`, which the GIN `jsonb_path_ops`
index answers (migration 0013); on SQLite, `json_extract` (the embedded mode only needs to be
correct). Values are read from text as CSV cells are (`rules.value_from_text`), so `cf.vip=oui`,
`cf.since=31/12/2024` and `cf.employees=12,5` work, and checked as a body's values are.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import ColumnElement, bindparam, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from services.customers.fields.errors import UnknownCustomFieldFilter
from services.customers.fields.models import CustomFieldDefinition
from services.customers.fields.rules import Definition, check_value, value_from_text
from services.customers.fields.usecases import json_path
from services.customers.models import Customer
from services.customers.tagging.set_based import dialect_name


def custom_field_conditions(
    session: Session, filters: Mapping[str, str]
) -> list[ColumnElement[bool]]:
    """One condition per `cf.<key>` filter; UnknownCustomFieldFilter (422 on `cf.<key>`) for a
    key no definition has or a value its type cannot take."""
    if not filters:
        return []
    definitions = _definitions_of(session, list(filters))
    postgres = dialect_name(session) == "postgresql"
    conditions = []
    for key, text in filters.items():
        definition = definitions.get(key)
        if definition is None:
            raise UnknownCustomFieldFilter(key, f"no custom field has the key {key!r}")
        try:
            value = check_value(definition, value_from_text(definition, text))
        except ValueError as exc:
            raise UnknownCustomFieldFilter(key, str(exc)) from None
        if postgres:
            document = type_coerce(Customer.custom_fields, JSONB)
            conditions.append(document.contains({key: value}))
        else:
            conditions.append(func.json_extract(Customer.custom_fields, json_path(key)) == value)
    return conditions


def _definitions_of(session: Session, keys: list[str]) -> Mapping[str, Definition]:
    """The definitions of `keys` (those that exist), as plain rows: a list request reads the
    few it filters on, in one statement built once, no definition made an ORM object."""
    return {row.key: row for row in session.execute(_DEFINITIONS, {"keys": keys})}


_TABLE = CustomFieldDefinition.__table__
_DEFINITIONS = select(_TABLE.c.key, _TABLE.c.type, _TABLE.c.options, _TABLE.c.kinds).where(
    _TABLE.c.key.in_(bindparam("keys", expanding=True))
)
"""Built once: its cache key is worked out once, not per request."""
