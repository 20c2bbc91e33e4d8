"""Values as a line of PostgreSQL's `COPY ... FROM STDIN` text format (tab-separated, `\\N` for
null, backslash escapes), made where a row is checked: a new customer travels from its checking
process to the worker as one string, and the worker writes it to the staging COPY as it is.

The same text psycopg's `write_row` would send: text escaped (backslash, tab, line breaks),
booleans `t`/`f`, numbers, UUIDs, dates and times (ISO 8601, their offset kept) as PostgreSQL
reads them, JSON values as their JSON text.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_SPECIAL = re.compile(r"[\\\t\n\r]")
_EMPTY_JSON: dict[type, str] = {list: "[]", dict: "{}"}


def copy_line(values: Iterable[Any]) -> str:
    """The values as one COPY text line, without its line break (`copy_value` of each; a null
    or a text, most of a customer's 44 values, written without the call)."""
    return "\t".join(
        [
            "\\N" if value is None else escaped(value) if type(value) is str else copy_value(value)
            for value in values
        ]
    )


def copy_value(value: Any) -> str:
    """One value in COPY text; TypeError for a type COPY would not take as we mean it."""
    if value is None:
        return "\\N"
    kind = type(value)
    if kind is str:
        return escaped(value)
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is float or isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return escaped(json_text(value))
    raise TypeError(f"no COPY text for a {kind.__name__}")


def escaped(text: str) -> str:
    """Text as a COPY field: backslash, tab and line breaks escaped."""
    if _SPECIAL.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def json_text(value: Any) -> str:
    """A JSON value's text (the empty list and object, most rows' own, made once)."""
    if not value and type(value) in _EMPTY_JSON:
        return _EMPTY_JSON[type(value)]
    return _JSON.encode(value)


def json_value(value: Any) -> Any:
    """What `json.dumps` writes for the values it does not know: dates, decimals, UUIDs."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    return value


_JSON = json.JSONEncoder(default=json_value)
"""`json.dumps(value, default=json_value)`'s encoder, made once (`dumps` makes one per call)."""
