"""What a custom field's value may be, by its type: pure functions over a definition.

One set of rules for every way a value arrives: JSON (`POST`/`PATCH /customers`), a CSV cell
(imports), a query parameter (`cf.<key>=<value>`); and one way it leaves as text (exports).
`check_value` returns the value as stored (JSON) or raises ValueError with a message for the
person who typed it; the API puts it under `custom_fields.<key>` in a 422.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from services.customers.imports.columns import FALSE_WORDS, TRUE_WORDS

TYPES = ("text", "number", "date", "boolean", "choice")
KINDS = ("individual", "company")
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,49}$"
KEY_RULE = "a key: a lower-case letter, then lower-case letters, digits or _ (at most 50)"
TEXT_MAX_LENGTH = 1000
NUMBER_LIMIT = Decimal(10) ** 15
_KEY = re.compile(KEY_PATTERN)
_FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


class Definition(Protocol):
    """What the rules read of a custom field definition (the model, or a test's stand-in)."""

    key: str
    type: str
    options: list[str]
    kinds: list[str]
    required: bool


def is_key(key: Any) -> bool:
    """Whether `key` is a custom field key."""
    return isinstance(key, str) and _KEY.match(key) is not None


# --- JSON in ------------------------------------------------------------------------------------
def check_value(definition: Definition, value: Any) -> Any:
    """The value as stored for this definition; ValueError saying why it cannot be (not None:
    a null removes the value, which the caller decides)."""
    return _CHECKS[definition.type](definition, value)


def _text(definition: Definition, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a text field takes a string")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValueError("cannot be blank; send null to remove the value")
    if len(text) > TEXT_MAX_LENGTH:
        raise ValueError(f"at most {TEXT_MAX_LENGTH} characters")
    return text


def _number(definition: Definition, value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("a number field takes a number (e.g. 42 or 12.5)")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number field takes a finite number")
    exact = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    if not exact.is_finite() or abs(exact) >= NUMBER_LIMIT:
        raise ValueError("a number field takes a number under 10^15")
    if exact == exact.to_integral_value():
        return int(exact)
    return float(exact)


def _date(definition: Definition, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a date field takes a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _boolean(definition: Definition, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("a yes/no field takes true or false")
    return value


def _choice(definition: Definition, value: Any) -> str:
    options = definition.options or []
    if isinstance(value, str):
        wanted = unicodedata.normalize("NFC", value).strip().casefold()
        for option in options:
            if option.casefold() == wanted:
                return option
    raise ValueError(f"{value!r} is not one of the options: {', '.join(options)}")


_CHECKS = {
    "text": _text,
    "number": _number,
    "date": _date,
    "boolean": _boolean,
    "choice": _choice,
}


# --- text in (CSV cells, query parameters) ------------------------------------------------------
def value_from_text(definition: Definition, text: str) -> Any:
    """What a cell or a query parameter means for this definition, as JSON would say it; text
    that is none of the type's spellings is returned as written, for `check_value` to refuse
    under the field's name. Numbers take `.` or `,`; yes/no fields English or French words
    (`true`, `oui`, `non`…); dates `YYYY-MM-DD` or `DD/MM/YYYY`."""
    cell = text.strip()
    if definition.type == "number":
        try:
            number = Decimal(cell.replace(" ", "").replace("\u202f", "").replace(",", "."))
        except InvalidOperation:
            return text
        return number if number.is_finite() else text
    if definition.type == "boolean":
        word = cell.casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        return text
    if definition.type == "date" and (match := _FRENCH_DATE.match(cell)):
        day, month, year = (int(part) for part in match.groups())
        try:
            return date(year, month, day).isoformat()
        except ValueError:
            return text
    return cell


# --- text out (exports) -------------------------------------------------------------------------
def value_to_text(value: Any) -> str:
    """A stored value as a CSV cell: numbers without exponent, booleans `true` / `false`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(str(value)).normalize(), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def fits(definition: Definition, kind: str, value: Any) -> bool:
    """Whether a stored value stays valid under `definition` for a customer of `kind`."""
    if kind not in definition.kinds:
        return False
    try:
        return bool(check_value(definition, value) == value)
    except ValueError:
        return False


def options_error(type: str, options: Sequence[str]) -> str | None:
    """Why `options` do not suit a field of `type` (None when they do)."""
    if type == "choice":
        if not options:
            return "a choice field needs at least one option"
        folded = [option.casefold() for option in options]
        if len(set(folded)) != len(folded):
            return "the options must differ (whatever the case)"
        return None
    if options:
        return "only a choice field has options"
    return None
