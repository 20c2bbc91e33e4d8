"""The rules of a profile's fields: phones, VAT numbers, languages, names by kind and the rest."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.customers.profiles import validation


@pytest.mark.parametrize(
    ("written", "region", "e164"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "BE", "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
        ("0470 12 34 56", "BE", "+32470123456"),
        ("0470 12 34 56", "be", "+32470123456"),
        ("+1 (650) 253-0000", "FR", "+16502530000"),
    ],
)
def test_phones_are_stored_in_e164_reading_local_numbers_in_the_default_region(
    written: str, region: str, e164: str
) -> None:
    assert validation.normalize_phone(written, region) == e164


@pytest.mark.parametrize("written", ["", "12", "abc", "+33 1 23", "06 12 34 56 78 99 99", "+999 1"])
def test_what_is_not_a_valid_phone_number_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        validation.normalize_phone(written, "FR")


def test_a_numbers_national_digits_are_how_it_is_dialled_at_home() -> None:
    assert validation.national_digits("+33612345678") == "0612345678"
    assert validation.national_digits("+32470123456") == "0470123456"


@pytest.mark.parametrize(
    ("written", "stored"),
    [("mobile", "mobile"), ("WORK", "work"), (" Home ", "home"), ("Bureau  Paris", "Bureau Paris")],
)
def test_phone_types_are_the_usual_three_or_a_custom_label(written: str, stored: str) -> None:
    assert validation.normalize_phone_type(written) == stored


@pytest.mark.parametrize("written", ["", "   ", "x" * 51])
def test_a_blank_or_overlong_phone_type_is_refused(written: str) -> None:
    with pytest.raises(ValueError):
        validation.normalize_phone_type(written)


@pytest.mark.parametrize(
    ("written", "country", "stored"),
    [
        ("FR40303265045", None, "FR40303265045"),
        ("fr 40 303 265 045", None, "FR40303265045"),
        ("40303265045", "FR", "FR40303265045"),
        ("DE136695976", None, "DE136695976"),
        ("BE 0403.019.261", None, "BE0403019261"),
        ("094259216", "GR", "EL094259216"),
        ("NL004495445B01", "FR", "NL004495445B01"),
    ],
)
def test_eu_vat_numbers_are_checked_by_their_countrys_format_and_compacted(
    written: str, country: str | None, stored: str
) -> None:
    assert validation.normalize_vat_number(written, country) == stored


@pytest.mark.parametrize(
    ("written", "country"),
    [
        ("FR123", None),
        ("FR40303265046", None),
        ("DE13669597", None),
        ("40303265045", None),
        ("US123456789", None),
        ("GB980780684", None),
        ("XX123456789", None),
    ],
)
def test_what_is_not_an_eu_vat_number_is_refused(written: str, country: str | None) -> None:
    with pytest.raises(ValueError, match="VAT"):
        validation.normalize_vat_number(written, country)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("fr", "fr"),
        ("FR", "fr"),
        ("fr_BE", "fr_BE"),
        ("fr_be", "fr_BE"),
        ("fr-BE", "fr_BE"),
        ("en", "en"),
        ("zh-hans-cn", "zh_Hans_CN"),
    ],
)
def test_languages_are_known_locales_in_babels_spelling(written: str, stored: str) -> None:
    assert validation.normalize_language(written) == stored


@pytest.mark.parametrize("written", ["xx", "klingon", "fr_XX", "en_ZZ", "", "fr__", "../etc"])
def test_unknown_languages_are_refused(written: str) -> None:
    with pytest.raises(ValueError, match="language"):
        validation.normalize_language(written)


@pytest.mark.parametrize(
    ("kind", "first", "last", "company", "fields"),
    [
        ("individual", "Jeanne", None, None, set()),
        ("individual", None, "Martin", None, set()),
        ("individual", None, None, "ACME", {"first_name", "last_name"}),
        ("individual", None, None, None, {"first_name", "last_name"}),
        ("company", None, None, "ACME", set()),
        ("company", "Jeanne", "Martin", None, {"company_name"}),
    ],
)
def test_an_individual_needs_a_name_and_a_company_its_company_name(
    kind: str, first: str | None, last: str | None, company: str | None, fields: set[str]
) -> None:
    assert set(validation.name_errors(kind, first, last, company)) == fields


def test_emails_are_checked_by_syntax_only_and_keep_their_local_part() -> None:
    assert validation.normalize_email(" Jeanne.Martin@Exemple.FR ") == "Jeanne.Martin@exemple.fr"
    # A domain that does not exist is fine: no DNS look-up.
    assert validation.normalize_email("a@no-such-domain-for-sure.example")
    assert validation.email_key("Jeanne.Martin@exemple.fr") == "jeanne.martin@exemple.fr"


@pytest.mark.parametrize(
    "written", ["jeanne", "jeanne@", "@example.com", "a b@example.com", "a@b@c.fr"]
)
def test_what_is_not_an_email_address_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="email"):
        validation.normalize_email(written)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("https://example.com", "https://example.com"),
        ("http://example.com/path?q=1", "http://example.com/path?q=1"),
        ("www.example.fr", "https://www.example.fr"),
        ("https://café.example", "https://café.example"),
    ],
)
def test_websites_are_http_urls(written: str, stored: str) -> None:
    assert validation.normalize_website(written) == stored


@pytest.mark.parametrize(
    "written",
    ["ftp://example.com", "javascript:alert(1)", "not a url", "https://", "localhost", "http://a"],
)
def test_what_is_not_a_website_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="website"):
        validation.normalize_website(written)


def test_countries_are_iso_codes_upper_cased() -> None:
    assert validation.normalize_country("fr") == "FR"
    for written in ("France", "XX", "EU", "ZZ", "F"):
        with pytest.raises(ValueError):
            validation.normalize_country(written)


def test_a_birth_date_cannot_be_in_the_future() -> None:
    today = date(2026, 6, 1)
    assert validation.check_birth_date(date(2026, 6, 1), today) == date(2026, 6, 1)
    with pytest.raises(ValueError, match="future"):
        validation.check_birth_date(date(2026, 6, 2), today)
    with pytest.raises(ValueError):
        validation.check_birth_date(date(1800, 1, 1), today)


@pytest.mark.parametrize(
    ("written", "stored"),
    [("0", "0.00"), ("12.5", "12.50"), ("99.99", "99.99"), ("100", "100.00"), ("12.500", "12.50")],
)
def test_a_discount_is_a_percentage_with_two_decimals(written: str, stored: str) -> None:
    assert str(validation.normalize_discount(Decimal(written))) == stored


@pytest.mark.parametrize("written", ["-0.01", "100.01", "12.345", "NaN", "Infinity"])
def test_a_discount_outside_0_100_or_finer_than_a_cent_is_refused(written: str) -> None:
    with pytest.raises(ValueError):
        validation.normalize_discount(Decimal(written))


@pytest.mark.parametrize(
    "typed",
    ["+33 6 12 34 56 78", "06 12 34 56 78", "+39 06 1234 5678", "+1 650 253 0000",
     "+44 20 7946 0958", "+33 6 12 34 56 78 ext. 12"],
)  # fmt: skip
def test_a_number_read_once_has_the_national_digits_of_its_e164(typed: str) -> None:
    # normalize_phone keeps the digits it saw for the search text; they must be the E.164's
    # (an extension, which E.164 drops, is not among them).
    e164 = validation.normalize_phone(typed, "FR")
    remembered = validation.national_digits(e164)
    validation._NATIONAL_DIGITS.clear()

    assert remembered == validation.national_digits(e164)
