"""Locale codes and the fallback order: the customer's, its base, the default, never a sibling."""

from __future__ import annotations

import pytest

from services.notifications.languages import choose, normalize


@pytest.mark.parametrize(
    ("code", "normalized"),
    [
        ("fr", "fr"),
        ("FR", "fr"),
        ("fr-BE", "fr_BE"),
        ("fr_be", "fr_BE"),
        (" en_za ", "en_ZA"),
        ("zh-hant-tw", "zh_Hant_TW"),
        ("es-419", "es_419"),
        ("", None),
        ("f", None),
        ("french", None),
        ("fr_BEL", None),
        ("fr__BE", None),
        ("../etc", None),
        (None, None),
    ],
)
def test_codes_are_read_in_one_form_and_malformed_ones_are_none(
    code: str | None, normalized: str | None
) -> None:
    assert normalize(code) == normalized


def test_the_customers_own_locale_comes_first() -> None:
    choice = choose("fr-be", "en", {"fr_BE", "fr", "en"})
    assert (choice.language, choice.fallback) == ("fr_BE", "exact")  # type: ignore[union-attr]


def test_a_regional_locale_falls_back_to_its_base_language() -> None:
    choice = choose("fr_BE", "en", {"fr", "en", "it"})
    assert (choice.language, choice.fallback) == ("fr", "base")  # type: ignore[union-attr]


def test_a_language_never_gets_a_sibling_locale() -> None:
    choice = choose("en", "it", {"en_ZA", "it"})
    assert (choice.language, choice.fallback) == ("it", "default")  # type: ignore[union-attr]


def test_a_base_language_never_gets_a_regional_variant_even_as_default() -> None:
    assert choose("de", "fr", {"de_AT", "fr_CH"}) is None


def test_a_malformed_or_missing_language_goes_to_the_default() -> None:
    for requested in ("not a locale", None, ""):
        choice = choose(requested, "it", {"fr", "it"})
        assert (choice.language, choice.fallback) == ("it", "default")  # type: ignore[union-attr]


def test_a_regional_default_falls_back_to_its_base() -> None:
    choice = choose("de", "fr_CH", {"fr"})
    assert (choice.language, choice.fallback) == ("fr", "default_base")  # type: ignore[union-attr]
