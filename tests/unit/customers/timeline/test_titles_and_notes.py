"""Titles in the customer's language, and the note sanitiser."""

from __future__ import annotations

import pytest

from services.customers.timeline.attachments import content_type_of, safe_filename
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


@pytest.mark.parametrize(
    ("name", "safe"),
    [("../../etc/passwd", "passwd"), ('C:\\x\\"a".pdf', "_a_.pdf"), ("a\r\nb.txt", "a__b.txt"),
     (None, "attachment"), ("..", "attachment"), ("é.txt", "é.txt")],
)  # fmt: skip
def test_an_attachments_name_loses_its_path_and_what_a_header_cannot_carry(
    name: str | None, safe: str
) -> None:
    assert safe_filename(name) == safe


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(b"%PDF-1.4", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
     (b"\xff\xd8\xff\xe0", "image/jpeg"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
     (b"GIF89a", "image/gif"), ("héllo\n".encode(), "text/plain; charset=utf-8"),
     (b"MZ\x90\x00", None), (b"\xff\xfe", None), (b"a\x00b", None)],
)  # fmt: skip
def test_an_attachments_type_comes_from_its_content(data: bytes, content_type: str | None) -> None:
    assert content_type_of(data) == content_type
