"""Control characters in input: the one rule, and its check of raw request data against a schema.

Text carrying NUL or another control character (C0, DEL, C1) or a lone surrogate is invalid
input in every field and query parameter; only multi-line fields (descriptions, notes) accept
tab and line breaks. PostgreSQL cannot store NUL nor encode a lone surrogate, so letting one
through is a 500 there and silently different data on SQLite.

Every `shared.api.Schema` runs `control_character_errors` on the raw data before loading it, for
every field whatever its type, so a schema cannot forget it; a field opts in to tab and line
breaks with `String(multiline=True)` (or any field with a true `multiline` attribute).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import marshmallow as ma

MULTILINE_ALLOWED = "\t\n\r"
# Cc (U+0000-U+001F, U+007F-U+009F) and Cs (lone surrogates, from JSON's "\ud800" escapes).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

SINGLE_LINE_MESSAGE = "control characters, tabs and line breaks are not allowed here"
MULTILINE_MESSAGE = "control characters other than tab and line breaks are not allowed here"


def has_control_characters(text: str, multiline: bool = False) -> bool:
    """Whether `text` holds a character the suite refuses (tab and line breaks if `multiline`)."""
    return (_CONTROL_MULTILINE if multiline else _CONTROL).search(text) is not None


def is_multiline(field: ma.fields.Field) -> bool:
    """Whether a field accepts tab and line breaks."""
    return getattr(field, "multiline", False) is True


class String(ma.fields.String):
    """A string field of the suite: single-line unless `multiline=True` (tab, \\n and \\r then).

    The schemas refuse control characters for every field (see the module); this field only
    declares which rule applies, and says so in the OpenAPI document (`x-multiline`).
    """

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        if multiline:
            kwargs["metadata"] = {"x-multiline": True, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self.multiline = multiline


ErrorTree = list[str] | dict[Any, Any]


def control_character_errors(schema: ma.Schema, data: Any, many: bool) -> dict[Any, Any]:
    """marshmallow-shaped errors for the control characters in raw `data` loaded by `schema`.

    Only the fields `schema` loads are looked at (unknown ones are the schema's business), under
    their data keys; nested schemas of the suite check their own part when they load it.
    """
    if many:
        if not isinstance(data, list):
            return {}
        return {
            index: item_errors
            for index, item in enumerate(data)
            if (item_errors := control_character_errors(schema, item, many=False))
        }
    if not isinstance(data, Mapping):
        return {}
    errors: dict[Any, Any] = {}
    for name, field in schema.load_fields.items():
        key = field.data_key if field.data_key is not None else name
        value = data.get(key, ma.missing)
        if value is ma.missing:
            continue
        if (found := _field_errors(field, value)) is not None:
            errors[key] = found
    return errors


def _field_errors(field: ma.fields.Field, value: Any) -> ErrorTree | None:
    if isinstance(field, ma.fields.Nested) and not isinstance(field, ma.fields.Pluck):
        nested = field.schema
        if getattr(type(nested), "checks_control_characters", False):
            return None  # it checks when it loads, its errors then nested under this field
        return control_character_errors(nested, value, bool(field.many)) or None
    if isinstance(field, ma.fields.List) and isinstance(value, list):
        return _items_errors(field.inner, value)
    if isinstance(field, ma.fields.Tuple) and isinstance(value, list | tuple):
        found = {
            index: errors
            for index, (inner, item) in enumerate(zip(field.tuple_fields, value, strict=False))
            if (errors := _field_errors(inner, item)) is not None
        }
        return found or None
    if isinstance(field, ma.fields.Mapping) and isinstance(value, Mapping):
        return _mapping_errors(field, value)
    return _value_errors(value, is_multiline(field))


def _items_errors(inner: ma.fields.Field, items: list[Any]) -> ErrorTree | None:
    found = {
        index: errors
        for index, item in enumerate(items)
        if (errors := _field_errors(inner, item)) is not None
    }
    return found or None


def _mapping_errors(field: ma.fields.Mapping, value: Mapping[Any, Any]) -> ErrorTree | None:
    # Shaped as marshmallow's own Dict errors: {key: {"key": [...], "value": [...]}}.
    found: dict[Any, Any] = {}
    for key, item in value.items():
        entry: dict[str, Any] = {}
        key_multiline = field.key_field is not None and is_multiline(field.key_field)
        if (key_errors := _value_errors(key, key_multiline)) is not None:
            entry["key"] = key_errors
        if field.value_field is not None:
            item_errors = _field_errors(field.value_field, item)
        else:
            item_errors = _value_errors(item, False)
        if item_errors is not None:
            entry["value"] = item_errors
        if entry:
            found[key] = entry
    return found or None


def _value_errors(value: Any, multiline: bool) -> list[str] | None:
    """The message when `value`, or any text inside it (JSON lists and objects), is refused."""
    if _holds_control_characters(value, multiline):
        return [MULTILINE_MESSAGE if multiline else SINGLE_LINE_MESSAGE]
    return None


def _holds_control_characters(value: Any, multiline: bool) -> bool:
    if isinstance(value, str):
        return has_control_characters(value, multiline)
    if isinstance(value, list | tuple):
        return any(_holds_control_characters(item, multiline) for item in value)
    if isinstance(value, Mapping):
        return any(
            _holds_control_characters(key, False) or _holds_control_characters(item, multiline)
            for key, item in value.items()
        )
    return False
