"""The import's fast loading of a row: the very dict `CustomerCreateSchema().load` answers, or
None (the schema then loads it and reports its own errors); never accepts what it refuses."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
import pytest

from services.customers.imports.fast_load import fast_email, fast_load
from services.customers.profiles.schemas import CustomerCreateSchema
from services.customers.profiles.validation import normalize_email

PERSON = {"kind": "individual", "first_name": "Élodie", "last_name": "Dupré"}
LONG_LOCAL = "a" * 64
LONG_DOMAIN = ".".join(["d" * 60] * 4) + ".com"

BODIES: list[dict[str, Any]] = [
    PERSON,
    {
        **PERSON,
        "first_name": "  E\u0301lodie  ",  # decomposed: composed, trimmed
        "email": "Paul.Martin+crm@Example.COM",
        "language": "fr_be",
        "phones": [{"number": "+33 6 12 34 56 78"}, {"number": "06 12 34 56 79"}],
        "address": {"street": "1 rue de la Paix", "city": "Lyon", "country": "fr"},
        "email_consent": True,
        "newsletter_subscribed": False,
        "is_supplier": True,
        "status": "lead",
        "gender": "female",
        "website": "example.com/page",
        "newsletter_lists": ["weekly", " monthly "],
        "source": {"channel": "fair", "utm_source": "paper"},
        "notes": "line one\nline two\ttabbed",
    },
    {"kind": "company", "company_name": "Dupré SARL", "address": {}},
    # Refused by the schema: the fast path must not accept any of them.
    {**PERSON, "first_name": "Élo\x00die"},
    {**PERSON, "last_name": "Dupré\u202e\x1b[31m"},
    {**PERSON, "first_name": "tab\there"},
    {**PERSON, "notes": "bell\x07"},
    {**PERSON, "address": {"city": "Lyon\ud800"}},
    {**PERSON, "phones": [{"number": "+33\n612345678"}]},
    {**PERSON, "status": "le\x85ad"},
    {**PERSON, "first_name": "x" * 101},
    {**PERSON, "company_name": " " + "x" * 200 + " "},
    {**PERSON, "email": "not an email"},
    {**PERSON, "email": "a@b"},
    {**PERSON, "email": "a..b@example.com"},
    {**PERSON, "email": "a@example..com"},
    {**PERSON, "email": f"{LONG_LOCAL}b@example.com"},
    {**PERSON, "email": f"{LONG_LOCAL}@{LONG_DOMAIN}"},
    {**PERSON, "email": "Jean <jean@example.com>"},
    {**PERSON, "email": '"quoted"@example.com'},
    {**PERSON, "email": "a@example.com>"},
    {**PERSON, "email": "a@@example.com"},
    {**PERSON, "email": "a@localhost"},
    {**PERSON, "email": "a@example.invalid"},
    {**PERSON, "email": "Postmaster@Example.com"},
    {**PERSON, "email": "élodie@exämple.fr"},
    {**PERSON, "email": "a@xn--exmple-cua.fr"},
    {**PERSON, "language": "xx_YY"},
    {**PERSON, "website": "ftp://example.com"},
    {**PERSON, "address": {"country": "Francia"}},
    {**PERSON, "address": {"planet": "Earth"}},
    {**PERSON, "address": "Lyon"},
    {**PERSON, "phones": [{}]},
    {**PERSON, "phones": [{"number": ""}]},
    {**PERSON, "phones": [{"number": "1" * 41}]},
    {**PERSON, "phones": [{"number": "+33612345678", "colour": "red"}]},
    {**PERSON, "phones": [{"number": "+33612345678"}] * 21},
    {**PERSON, "newsletter_lists": ["  "]},
    {**PERSON, "email_consent": "oui?"},
    {**PERSON, "status": ""},
    {**PERSON, "status": "s" * 33},
    {**PERSON, "gender": "femme?"},
    {**PERSON, "kind": "robot"},
    {"first_name": "no kind"},
    {**PERSON, "id": "0d7e2a52-6f69-4a0e-9d3b-8f1f3c5b2a10"},
    {**PERSON, "tags": ["vip"]},
    {**PERSON, "unknown": "x"},
    # Outside the fast path (loaded by the schema either way).
    {**PERSON, "birth_date": "1990-01-01"},
    {**PERSON, "billing": {"vat_number": "FR40303265045"}},
    {**PERSON, "custom_fields": {"loyalty": "gold"}},
    {**PERSON, "consent": {"source": "form", "obtained_at": "2024-01-01T00:00:00Z"}},
]


def _schema_load(body: dict[str, Any]) -> dict[str, Any] | None:
    try:
        loaded: dict[str, Any] = CustomerCreateSchema().load(body)
    except ma.ValidationError:
        return None
    return loaded


@pytest.mark.parametrize("body", BODIES)
def test_the_fast_load_answers_what_the_schema_answers_or_leaves_the_row_to_it(
    body: dict[str, Any],
) -> None:
    fast = fast_load(body)
    if fast is not None:
        assert fast == _schema_load(body)
        assert list(fast) == list(_schema_load(body) or {})


def test_the_common_rows_take_the_fast_path() -> None:
    assert fast_load(BODIES[1]) is not None
    assert fast_load(BODIES[2]) is not None


@pytest.mark.parametrize(
    "email",
    [
        "Paul.Martin+crm@Example.COM",
        "o'brien@example.co.uk",
        "x@EXAMPLE.com",
        f"{LONG_LOCAL}@example.com",
        f"{'a' * 60}@{'b' * 63}.{'c' * 63}.{'d' * 63}.com",
        f"{'a' * 40}@{'b' * 63}.{'c' * 63}.{'d' * 63}.com",
        "user@xn--exmple-cua.fr",
        "user@exämple.fr",
        "abuse@example.com",
    ],
)
def test_a_valid_address_is_normalised_as_email_validator_does(email: str) -> None:
    try:
        expected = normalize_email(email)
    except ValueError as exc:
        with pytest.raises(ValueError, match="not a valid email") as raised:
            fast_email(email)
        assert str(raised.value) == str(exc)
        return
    assert fast_email(email) == expected
