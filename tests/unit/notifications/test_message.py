"""The MIME bytes `build_message` writes, read back by the standard library's parser."""

from __future__ import annotations

import base64
import re
from email import policy
from email.parser import BytesParser

import pytest

from services.notifications.message import build_message
from services.notifications.templates import Rendered

SUBJECTS = [
    "Hello",
    "Votre compte est activé",
    "é" * 80,  # two bytes a character: no word may end within one
    "日本語のメール件名はとても長くなることがありますので、ちゃんと折り返されるべきです",
    ("😀 emoji " * 12).strip(),  # four bytes a character
    "a plain ASCII subject that is long enough to need more than one encoded word to be written",
    "looks =?utf-8?b?encoded?= but is not",
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_a_subject_reads_back_as_written_in_encoded_words_of_whole_characters(
    subject: str,
) -> None:
    rendered = Rendered("fr", "exact", subject, "texte", "<p>texte</p>")
    email = build_message("CRM <no-reply@crm.test>", [("Ada", "ada@example.com")], rendered,
                          "<m@crm.test>")  # fmt: skip
    head = email.data.split(b"\r\n\r\n", 1)[0]
    words = re.findall(rb"=\?utf-8\?b\?([^?]*)\?=", head)
    assert all(len(word) + 12 <= 75 for word in words)  # RFC 2047's longest encoded word
    message = BytesParser(policy=policy.default).parsebytes(email.data)
    assert str(message["Subject"]) == subject
    for word in words:  # none ends within a character
        base64.b64decode(word).decode("utf-8")
