"""The local SMTP sink stores every message it receives as an .eml file."""

from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from shared.mailsink import MailSink


def _message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "crm@example.com"
    msg["To"] = "ada@example.com"
    msg["Subject"] = "Bienvenue, Ada"
    msg.set_content("Votre compte est activé.\n")
    return msg


def test_received_message_is_written_as_eml_with_envelope_headers(tmp_path: Path) -> None:
    with MailSink(mail_dir=tmp_path, port=0) as sink:
        assert sink.port != 0
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
            client.send_message(
                _message(),
                from_addr="bounce@example.com",
                to_addrs=["ada@example.com", "admin@example.com"],
            )
        [path] = sink.wait_for_messages(1)

    assert path.suffix == ".eml"
    parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert parsed["X-Envelope-From"] == "bounce@example.com"
    assert parsed["X-Envelope-To"] == "ada@example.com, admin@example.com"
    assert parsed["Subject"] == "Bienvenue, Ada"
    body = parsed.get_body()
    assert body is not None
    assert "Votre compte est activé." in body.get_content()


def test_each_message_gets_its_own_file_and_no_temp_file_is_left(tmp_path: Path) -> None:
    with MailSink(mail_dir=tmp_path) as sink, smtplib.SMTP(sink.host, sink.port) as client:
        for _ in range(3):
            client.send_message(_message())
        sink.wait_for_messages(3)

    assert len(list(tmp_path.glob("*.eml"))) == 3
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".eml")] == []
