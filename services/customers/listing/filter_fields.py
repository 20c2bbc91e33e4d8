"""The fields of the list parameters: text normalised, dates, locale codes, custom fields.

`filters.CustomerFilterSchema` is made of them; each loads a query parameter (or a stored
filter's value) as the conditions in `filters` expect it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import marshmallow as ma

from services.customers.fields.rules import KEY_PATTERN, KEY_RULE
from shared.text import SINGLE_LINE_MESSAGE, has_control_characters

MAX_SEARCH_WORDS = 8
MAX_CUSTOM_FIELD_FILTERS = 20

_PHONE_LIKE = re.compile(r"^\+?[\d\s().\-/]+$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:[_-](?:[A-Za-z]{4}|[A-Za-z]{2}|\d{3}))*$")


# --- normalisation ------------------------------------------------------------------------------
def search_terms(q: str) -> list[str]:
    """What `q` must find in `search_text`: phone-like input as its digits, else each word.

    `"+33 6 12-34"` → `["3361234"]`; `"  Jean DUPONT "` → `["jean", "dupont"]` (both must appear,
    in any order); blank → `[]`.
    """
    text = " ".join(q.split()).lower()
    if not text:
        return []
    if _PHONE_LIKE.match(text) and any(char.isdigit() for char in text):
        return [re.sub(r"\D", "", text)]
    words = list(dict.fromkeys(text.split(" ")))
    return words[:MAX_SEARCH_WORDS]


def normalize_language(value: str) -> str:
    """A locale code in the profiles' spelling: `FR` → `fr`, `zh-hans-cn` → `zh_Hans_CN`."""
    text = value.strip()
    if not _LANGUAGE.match(text):
        raise ValueError(value)
    language, *rest = re.split(r"[_-]", text)
    return "_".join(
        [language.lower(), *(part.title() if len(part) == 4 else part.upper() for part in rest)]
    )


# --- fields -------------------------------------------------------------------------------------
# Control characters are refused by every schema (`shared.text`), here as in bodies.
class FilterText(ma.fields.String):
    """A text filter value: trimmed, never blank."""

    default_error_messages = {
        "blank": "cannot be blank; leave the parameter out not to filter on it",
    }

    def __init__(self, max_length: int, **kwargs: Any) -> None:
        super().__init__(validate=ma.validate.Length(max=max_length), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise self.make_error("blank")
        return text


class CustomFieldFilters(ma.fields.Dict):
    """`cf.<key>=<value>` parameters, gathered by key (`{"loyalty": "gold"}`); each value is read
    by its field's type when the conditions are built (`fields.filters`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            keys=ma.fields.String(validate=ma.validate.Regexp(KEY_PATTERN, error=KEY_RULE)),
            values=FilterText(200),
            validate=ma.validate.Length(min=1, max=MAX_CUSTOM_FIELD_FILTERS),
            **kwargs,
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        # The parameters arrive as `cf.<key>`, which the schema's check of raw text never saw.
        if isinstance(value, Mapping):
            bad = [key for key, text in value.items() if has_control_characters(str(text))]
            if bad:
                raise ma.ValidationError({key: [SINGLE_LINE_MESSAGE] for key in bad})
        return super()._deserialize(value, attr, data, **kwargs)


class SearchText(ma.fields.String):
    """`q`: trimmed; blank means no search (a cleared search box), dropped after loading."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        return str(super()._deserialize(value, attr, data, **kwargs).strip())


class Language(ma.fields.String):
    """A locale code (`fr`, `fr_BE`, `en`), normalised."""

    default_error_messages = {"language": "a locale code such as fr, fr_BE or en"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return normalize_language(super()._deserialize(value, attr, data, **kwargs))
        except ValueError:
            raise self.make_error("language") from None


class CountryCode(ma.fields.String):
    """An ISO 3166-1 alpha-2 country code, in any case; loaded upper-case."""

    default_error_messages = {"country": "a two-letter country code such as FR"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not re.fullmatch(r"[A-Za-z]{2}", text):
            raise self.make_error("country")
        return text.upper()


class DateOrDateTime(ma.fields.Field):
    """An RFC 3339 date-time, or a date (a whole day, in UTC); a time without offset is UTC."""

    default_error_messages = {
        "invalid": "a date (2024-05-31) or an RFC 3339 date-time (2024-05-31T18:00:00Z)"
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        text = value.strip()
        try:
            if len(text) == 10:
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise self.make_error("invalid") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
            raise self.make_error("invalid") from None

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        if value is None or isinstance(value, str):  # a stored filter is dumped as it is
            return value
        return str(value.isoformat())


def day_start(value: date | datetime) -> datetime:
    """The first instant a `created_from` bound includes."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min, tzinfo=UTC)


def day_end(value: date | datetime) -> tuple[datetime, bool]:
    """The instant a `created_to` bound stops at, and whether that instant is included."""
    if isinstance(value, datetime):
        return value, True
    if value == date.max:
        return datetime.max.replace(tzinfo=UTC), True
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=UTC), False
