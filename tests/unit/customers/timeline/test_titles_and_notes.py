"""Titles in the customer's language, and the note sanitiser."""

from __future__ import annotations

import pytest

from services.customers.timeline.titles import TITLES, language_of, title_of
from services.customers.timeline.usecases import sanitise_note


@pytest.mark.parametrize(
    ("tag", "language"),
    [("fr", "fr"), ("fr-CA", "fr"), ("FR_be", "fr"), ("en-GB", "en"), ("de", "en"), (None, "en"),
     ("", "en")],
)  # fmt: skip
def test_the_title_language_is_the_customers_primary_language_else_english(
    tag: str | None, language: str
) -> None:
    assert language_of(tag) == language


def test_every_type_has_a_french_and_an_english_title() -> None:
    assert all(set(templates) == {"en", "fr"} for templates in TITLES.values())


def test_a_first_status_reads_none_and_a_missing_field_reads_empty() -> None:
    details = {"from_": None, "to": "lead", "reason": "manual"}
    assert title_of("customer.status_changed", details, "fr") == (
        "Statut changé de aucun à lead (manual)"
    )
    assert title_of("customer.tagged", {}, "en") == "Tag  added"


def test_a_group_event_and_a_named_request_say_so() -> None:
    group = {"kind": "group_event", "title": "Yoga"}
    assert title_of("scheduling.appointment.completed", group, "en") == (
        "Group event attended: Yoga"
    )
    assert title_of("support.request.created", {"title": "Colis"}, "fr") == (
        "Demande d'assistance ouverte : Colis"
    )


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<script>alert(1)</script>ok", "ok"),
        ('<p onmouseover="x()">hi</p>', "<p>hi</p>"),
        ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<iframe src="https://e.com"></iframe>', ""),
        ('<img src=x onerror="alert(1)">', ""),
        ("<b>bold</b> <i>it</i> <ul><li>a</li></ul>", "<b>bold</b> <i>it</i> <ul><li>a</li></ul>"),
        (
            '<a href="https://e.com/">e</a>',
            '<a href="https://e.com/" rel="noopener noreferrer nofollow">e</a>',
        ),
    ],
)  # fmt: skip
def test_a_note_keeps_formatting_and_loses_what_could_run(dirty: str, clean: str) -> None:
    assert sanitise_note(dirty) == clean
