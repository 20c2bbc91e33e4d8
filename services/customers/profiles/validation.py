"""The rules a customer profile's fields follow: pure functions, each normalising or refusing.

Each function returns the value as it is stored, or raises ValueError with a message meant for
the person who typed the value (the API puts it under the field's name in a 422).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError

KINDS = ("individual", "company")
GENDERS = ("female", "male", "other", "unspecified")
PHONE_TYPES = ("mobile", "work", "home")
PHONE_TYPE_MAX_LENGTH = 50
OLDEST_BIRTH_DATE = date(1870, 1, 1)
DISCOUNT_MAX = Decimal(100)
_CENT = Decimal("0.01")
# Babel's territories include groupings and placeholders that are not countries.
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "ZZ", "QO", "XA", "XB"})
_COUNTRIES = frozenset(
    code
    for code in map(str, Locale("en").territories)
    if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
)
_NON_DIGITS = re.compile(r"\D")
_NATIONAL_DIGITS: dict[str, str] = {}
"""The national digits of the numbers `normalize_phone` just read, by E.164 (bounded): a number
is parsed once, not again when the customer's search text is built."""
_NATIONAL_DIGITS_MAX = 4096
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$")


def normalize_email(value: str) -> str:
    """The address with its domain lower-cased; syntax only, the domain is not looked up."""
    try:
        checked = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return str(checked.normalized)


def email_key(email: str | None) -> str | None:
    """The key that makes two addresses the same customer's: the address lower-cased."""
    return email.lower() if email else None


@functools.lru_cache(maxsize=1024)
def normalize_language(value: str) -> str:
    """A known locale code in Babel's spelling: `fr-be`, `FR_BE` and `fr_BE` give `fr_BE`
    (the few codes a file repeats row after row are each looked up once)."""
    code = value.strip().replace("-", "_")
    try:
        locale = Locale.parse(code)
    except (UnknownLocaleError, ValueError, TypeError):
        locale = None
    # Babel fills in likely subtags (`en_ZZ` becomes `en_US`): only an exact match is known.
    if locale is None or str(locale).lower() != code.lower():
        raise ValueError(f"{value!r} is not a known language code (e.g. fr, fr_BE, en)")
    return str(locale)


def normalize_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 country code, upper-cased."""
    code = value.strip().upper()
    if code not in _COUNTRIES:
        raise ValueError(f"{value!r} is not an ISO 3166 country code (e.g. FR, BE, DE)")
    return code


def normalize_phone(value: str, default_region: str) -> str:
    """The number in E.164; a number without a country code is read as `default_region`'s."""
    try:
        number = phonenumbers.parse(value, default_region.upper())
    except phonenumbers.NumberParseException:
        raise ValueError(
            f"{value!r} is not a phone number (write it with its country code, e.g. +33 6 12 34 "
            "56 78)"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value!r} is not a valid phone number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if number.extension is None:  # else E.164 drops the extension the national form has
        if len(_NATIONAL_DIGITS) >= _NATIONAL_DIGITS_MAX:
            _NATIONAL_DIGITS.clear()
        _NATIONAL_DIGITS[e164] = _national_digits_of(number)
    return e164


def national_digits(e164: str) -> str:
    """The digits of a number as it is dialled inside its own country (`0612345678`)."""
    known = _NATIONAL_DIGITS.get(e164)
    return known if known is not None else _national_digits_of(phonenumbers.parse(e164))


def _national_digits_of(number: phonenumbers.PhoneNumber) -> str:
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return _NON_DIGITS.sub("", national)


def normalize_phone_type(value: str) -> str:
    """`mobile`, `work` or `home` (any case), or a custom label of at most 50 characters."""
    label = " ".join(value.split())
    if not label:
        raise ValueError("a phone type cannot be blank (mobile, work, home or your own label)")
    if len(label) > PHONE_TYPE_MAX_LENGTH:
        raise ValueError(f"a phone type has at most {PHONE_TYPE_MAX_LENGTH} characters")
    return label.lower() if label.lower() in PHONE_TYPES else label


def normalize_vat_number(value: str, country: str | None = None) -> str:
    """An intra-EU VAT number, checked by its country's format and check digits, compacted.

    A number written without its country prefix takes `country`'s (Greece's is `EL`).
    """
    compact = re.sub(r"[\s.\-/]", "", value).upper()
    if compact[:2].isdigit() and country:
        prefix = "EL" if country.upper() == "GR" else country.upper()
        compact = prefix + compact
    try:
        return str(eu_vat.validate(compact))
    except StdnumError:
        raise ValueError(
            f"{value!r} is not a valid intra-EU VAT number (country prefix then the national "
            "number, e.g. FR40303265045)"
        ) from None


def normalize_website(value: str) -> str:
    """An http(s) URL; `example.com` is read as `https://example.com`."""
    text = value.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        parts, host = None, ""
    if parts is None or parts.scheme.lower() not in ("http", "https") or not _is_host(host):
        raise ValueError(f"{value!r} is not a website address (e.g. https://example.com)")
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in text):
        raise ValueError("a website address cannot contain spaces or control characters")
    return text


def _is_host(host: str) -> bool:
    if host == "localhost":
        return False
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_HOST.match(ascii_host))


def check_birth_date(value: date, today: date) -> date:
    """A birth date that is not in the future (nor before 1870)."""
    if value > today:
        raise ValueError("a birth date cannot be in the future")
    if value < OLDEST_BIRTH_DATE:
        raise ValueError(f"a birth date cannot be before {OLDEST_BIRTH_DATE.isoformat()}")
    return value


def normalize_discount(value: Decimal) -> Decimal:
    """A discount rate from 0 to 100 percent with at most two decimals, as `12.50`."""
    try:
        if not value.is_finite() or value != value.quantize(_CENT):
            raise ValueError("a discount has at most two decimals (e.g. 12.5)")
    except InvalidOperation:
        raise ValueError("a discount has at most two decimals (e.g. 12.5)") from None
    if not Decimal(0) <= value <= DISCOUNT_MAX:
        raise ValueError("a discount is a percentage from 0 to 100")
    return value.quantize(_CENT)


def name_errors(
    kind: str, first_name: str | None, last_name: str | None, company_name: str | None
) -> dict[str, list[str]]:
    """What a profile of `kind` misses among its names, by field (empty when nothing)."""
    if kind == "company" and not company_name:
        return {"company_name": ["a company needs its company name"]}
    if kind == "individual" and not (first_name or last_name):
        message = "an individual needs a first name or a last name"
        return {"first_name": [message], "last_name": [message]}
    return {}
