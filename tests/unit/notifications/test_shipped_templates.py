"""The shipped templates: every key of the contract in French, English and Italian, each valid,
and no translation using what its default-language template does not."""

from __future__ import annotations

import pytest

from services.notifications import defaults
from services.notifications.rendering import RenderLimits, used_variables
from services.notifications.templates import PARTS, check_template

CONTRACT_KEYS = (
    "registration.received",
    "registration.email_confirmation",
    "registration.approved",
    "registration.rejected",
    "account.activated",
    "account.credentials",
    "device.confirmation",
    "tag.applied",
    "status.changed",
)


@pytest.mark.parametrize("key", CONTRACT_KEYS)
def test_every_key_of_the_contract_has_a_template_in_the_default_and_shipped_languages(
    key: str,
) -> None:
    assert defaults.shipped(key, defaults.DEFAULT_LANGUAGE) is not None
    for language in ("fr", "en", "it"):
        assert defaults.shipped(key, language) is not None, (key, language)


@pytest.mark.parametrize(("key", "language"), sorted(defaults.SHIPPED))
def test_every_shipped_template_passes_the_checks_a_saved_one_must(key: str, language: str) -> None:
    shipped = defaults.SHIPPED[(key, language)]
    check_template(key, {part: getattr(shipped, part) for part in PARTS}, RenderLimits())


@pytest.mark.parametrize(("key", "language"), sorted(defaults.SHIPPED))
def test_no_translation_uses_a_variable_its_default_language_template_does_not(
    key: str, language: str
) -> None:
    default = defaults.SHIPPED[(key, defaults.DEFAULT_LANGUAGE)]
    translation = defaults.SHIPPED[(key, language)]
    for part in PARTS:
        assert used_variables(getattr(translation, part)) <= used_variables(
            getattr(default, part)
        ), (key, language, part)


def test_parametric_keys_start_from_their_familys_text() -> None:
    assert defaults.shipped("tag.applied.5b0f4c1e-0000-4000-8000-000000000000", "it") is not None
    assert defaults.shipped("status.changed.vip", "fr") is not None
    assert defaults.shipped("registration.unknown", "fr") is None
