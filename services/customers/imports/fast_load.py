"""A CSV row's body loaded as `CustomerCreateSchema().load` loads it, for the common rows only,
at a fraction of marshmallow's cost (an import checks a million rows).

`fast_load(body)` answers the very dict the schema answers, or None: for a row it does not
cover (a field outside the usual columns: billing, consent, custom fields, dates, discount...)
and for any value the schema would refuse, so that the caller loads it with the schema and
reports the schema's own errors. It never accepts what the schema refuses: every text goes
through the one control-character rule (`shared.text.has_control_characters`), the same
Unicode composition, trimming and lengths as `profiles.schemas.Text`, and the same rules of
`profiles.validation` (the tests compare both on valid and hostile bodies).

Email addresses: `fast_email` checks a plain ASCII local part with email-validator's own
pattern and each domain once (by the library itself), the common address; any other goes to
`normalize_email`.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Any

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import (
    CASE_INSENSITIVE_MAILBOX_NAMES,
    DOT_ATOM_TEXT,
    EMAIL_MAX_LENGTH,
)

from services.customers.profiles import validation
from services.customers.profiles.schemas import (
    MAX_NEWSLETTER_LISTS,
    MAX_PHONES,
    CustomerCreateSchema,
)
from shared.text import has_control_characters

Loader = Callable[[Any], Any]
_REFUSED = object()
"""What a loader answers for a value the schema may refuse (the row goes to the schema)."""
_CASE_INSENSITIVE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def _text(max_length: int, multiline: bool = False, blank: bool = True) -> Loader:
    """`profiles.schemas.Text`: composed, trimmed, blank is None, at most `max_length`."""

    def load(value: Any) -> Any:
        if type(value) is not str or has_control_characters(value, multiline):
            return _REFUSED
        text = unicodedata.normalize("NFC", value).strip()
        if not text:
            return None if blank else _REFUSED
        return text if len(text) <= max_length else _REFUSED

    return load


def _normalised(rule: Callable[[str], Any], max_length: int) -> Loader:
    """`profiles.schemas.Normalised`: the text, then `rule` (its ValueError: refused)."""
    text_of = _text(max_length)

    def load(value: Any) -> Any:
        text = text_of(value)
        if text is None or text is _REFUSED:
            return text
        try:
            return str(rule(text))
        except ValueError:
            return _REFUSED

    return load


def _string(minimum: int, maximum: int) -> Loader:
    """A plain `ma.fields.String` with `Length(minimum, maximum)` (not trimmed)."""

    def load(value: Any) -> Any:
        if type(value) is not str or has_control_characters(value):
            return _REFUSED
        return value if minimum <= len(value) <= maximum else _REFUSED

    return load


def _one_of(choices: tuple[str, ...]) -> Loader:
    def load(value: Any) -> Any:
        if type(value) is not str or value not in choices:
            return _REFUSED
        return value

    return load


def _flag(value: Any) -> Any:
    return value if type(value) is bool else _REFUSED


def _nested(loaders: dict[str, Loader], required: frozenset[str] = frozenset()) -> Loader:
    """A nested schema: only known keys, each loaded (a missing one absent), `required` given."""

    def load(value: Any) -> Any:
        if type(value) is not dict or not required <= value.keys() <= loaders.keys():
            return _REFUSED
        loaded = {}
        for name, item in value.items():
            if (loaded_item := loaders[name](item)) is _REFUSED:
                return _REFUSED
            loaded[name] = loaded_item
        return loaded

    return load


def _list_of(loader: Loader, maximum: int) -> Loader:
    def load(value: Any) -> Any:
        if type(value) is not list or len(value) > maximum:
            return _REFUSED
        loaded = [loader(item) for item in value]
        return _REFUSED if any(item is _REFUSED for item in loaded) else loaded

    return load


@functools.lru_cache(maxsize=1024)
def _domain(domain: str) -> tuple[str, str] | None:
    """The domain as email-validator normalises it (and its ASCII form), or None if refused."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return str(checked.domain), str(checked.ascii_domain)


def fast_email(value: str) -> str:
    """`validation.normalize_email`, each domain checked once for the plain addresses."""
    local, at, domain_part = value.strip().partition("@")
    if (
        at
        and "@" not in domain_part
        and DOT_ATOM_TEXT.match(local)
        and local.lower() not in _CASE_INSENSITIVE
        and (domain := _domain(domain_part)) is not None
    ):
        longest = max(len(local) + 1 + len(part.encode()) for part in (domain_part, *domain))
        if longest <= EMAIL_MAX_LENGTH:
            return f"{local}@{domain[0]}"
    return validation.normalize_email(value)


_ADDRESS = _nested(
    {
        "street": _text(300),
        "postal_code": _text(20),
        "city": _text(100),
        "region": _text(100),
        "country": _normalised(validation.normalize_country, 100),
    }
)
_LOADERS: dict[str, Loader] = {
    "kind": _one_of(validation.KINDS),
    "first_name": _text(100),
    "last_name": _text(100),
    "company_name": _text(200),
    "email": _normalised(fast_email, 320),
    "website": _normalised(validation.normalize_website, 2000),
    "gender": _one_of(validation.GENDERS),
    "language": _normalised(validation.normalize_language, 16),
    "address": _ADDRESS,
    "phones": _list_of(_nested({"number": _string(1, 40)}, frozenset({"number"})), MAX_PHONES),
    "email_consent": _flag,
    "newsletter_subscribed": _flag,
    "newsletter_lists": _list_of(_text(100, blank=False), MAX_NEWSLETTER_LISTS),
    "is_supplier": _flag,
    "is_conflict": _flag,
    "status": _string(1, 32),
    "source": _nested(
        {
            "channel": _text(100),
            "campaign": _text(200),
            "utm_source": _text(200),
            "utm_medium": _text(200),
            "utm_campaign": _text(200),
            "device": _text(200),
        }
    ),
    "notes": _text(20_000, multiline=True),
}
_ORDER = tuple(name for name in CustomerCreateSchema().load_fields if name in _LOADERS)
"""The covered fields in the schema's order (the order of the dict it answers)."""
assert len(_ORDER) == len(_LOADERS), "a covered field is not one of the schema's"


def fast_load(body: dict[str, Any]) -> dict[str, Any] | None:
    """The body as `CustomerCreateSchema().load(body)` answers it, or None (see the module)."""
    if "kind" not in body or not body.keys() <= _LOADERS.keys():
        return None
    loaded: dict[str, Any] = {}
    for name in _ORDER:
        if name in body:
            if (value := _LOADERS[name](body[name])) is _REFUSED:
                return None
            loaded[name] = value
    return loaded
