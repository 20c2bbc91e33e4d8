"""What the sender decides when it sends, on PostgreSQL and a real SMTP server: consent as it is
then (and kept in the log), an address that would inject headers refused, the render limits on
the real values, and the embedded mode's `.eml` files, one per Message-ID."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.notifications.config import SmtpConfig
from services.notifications.handlers import delivery_row, project, record_rows
from services.notifications.message import Email
from services.notifications.sender import DeliverySender
from services.notifications.transport import (
    FileTransport,
    PermanentFailure,
    SmtpTransport,
    Transport,
    make_transport,
)
from shared.db import UnitOfWorkFactory, utcnow
from shared.events.envelope import make_event
from shared.mailsink import MailSink
from tests.integration.notifications.mailing import config_for, deliveries, parsed, save

pytestmark = [pytest.mark.needs_postgres]


def _customer(app: Flask, when: Any = None, **fields: Any) -> uuid.UUID:
    customer = uuid.uuid4()
    values = {"email": f"{customer.hex[:8]}@example.com", "language": "en", "email_consent": True}
    _project(app, customer, when, **{**values, **fields})
    return customer


def _project(app: Flask, customer: uuid.UUID, when: Any = None, **fields: Any) -> None:
    with app.extensions["crm"].uow() as uow:
        project(uow, [{"customer_id": customer, "as_of": when or utcnow(), **fields}])
        uow.commit()


def _email(app: Flask, key: str, customer: uuid.UUID, **variables: Any) -> None:
    with app.extensions["crm"].uow() as uow:
        event = make_event("account.activated", {"customer_id": str(customer)}, "test")
        record_rows(uow, [delivery_row(uow, event, key, customer, variables)])
        uow.commit()


def _sender(app: Flask, transport: Transport, port: int = 25) -> DeliverySender:
    factory = app.extensions["crm"].session_factory
    return DeliverySender(factory, UnitOfWorkFactory(factory, "notifications"), transport,
                          config_for(port), "CRM <no-reply@crm.test>")  # fmt: skip


def test_consent_is_read_when_the_email_is_sent_and_the_log_keeps_it(
    app: Flask, client: FlaskClient, writer: dict[str, str], tmp_path: Path
) -> None:
    tag_id = uuid.uuid4()
    key = f"tag.applied.{tag_id}"
    save(client, writer, key, "en", "Tag {{ tag.name }}")
    then = utcnow() - timedelta(minutes=1)
    withdrawn, given = _customer(app, then), _customer(app, then, email_consent=False)
    for customer in (withdrawn, given):
        _email(app, key, customer, tag={"id": str(tag_id), "name": "VIP"})
    # before the sender runs, one customer withdraws consent and the other gives it
    _project(app, withdrawn, email_consent=False)
    _project(app, given, email_consent=True)

    with MailSink(tmp_path / "mail") as sink:
        _sender(app, SmtpTransport(config_for(sink.port).smtp)).send_due()
        [path] = sink.wait_for_messages(1)
    assert parsed(path)["X-Envelope-To"] == f"{given.hex[:8]}@example.com"
    rows = {r.customer_id: r for r in deliveries(app)}
    assert (rows[given].status, rows[given].consent) == ("sent", True)
    assert (rows[withdrawn].status, rows[withdrawn].consent) == ("skipped", False)
    assert rows[withdrawn].error == "no email consent"


def test_an_address_with_a_line_break_is_refused_not_sent(app: Flask, tmp_path: Path) -> None:
    customer = _customer(app, email="ada@example.com\r\nBcc: victim@example.com")
    _email(app, "account.activated", customer)
    with MailSink(tmp_path / "mail") as sink:
        _sender(app, SmtpTransport(config_for(sink.port).smtp)).send_due()
        assert sink.messages() == []
    [row] = deliveries(app)
    assert row.status == "failed"
    assert "is not an email address" in (row.error or "")


def test_a_template_that_grows_past_the_limit_on_real_values_fails_that_email(
    app: Flask, client: FlaskClient, writer: dict[str, str], tmp_path: Path
) -> None:
    # 12 characters of the sample name render 240,000: saved; a 100-character name, 2,000,000
    save(client, writer, "account.activated", "en", "{{ 'x' * (customer.name|length * 20000) }}")
    long_name, short_name = _customer(app, first_name="A" * 100), _customer(app, first_name="Al")
    for customer in (long_name, short_name):
        _email(app, "account.activated", customer)
    with MailSink(tmp_path / "mail") as sink:
        _sender(app, SmtpTransport(config_for(sink.port).smtp)).send_due()
        assert len(sink.wait_for_messages(1)) == 1
    rows = {r.customer_id: r for r in deliveries(app)}
    assert rows[short_name].status == "sent"
    assert rows[long_name].status == "failed"
    assert "renders more than 1000000 characters" in (rows[long_name].error or "")


def test_the_embedded_mode_writes_one_eml_per_message_id(app: Flask, tmp_path: Path) -> None:
    customer = _customer(app, first_name="Ada")
    _email(app, "account.activated", customer)
    transport = make_transport(SmtpConfig(host=None), tmp_path / "mail")
    assert isinstance(transport, FileTransport)  # no SMTP host: the embedded mode
    sender = _sender(app, transport)
    sender.send_due()
    [path] = (tmp_path / "mail").glob("*.eml")
    message = parsed(path)
    [row] = deliveries(app)
    assert (row.status, message["Message-ID"]) == ("sent", row.message_id)
    assert message["X-Envelope-To"] == f"{customer.hex[:8]}@example.com"
    assert message.get_body(("plain",)).get_content().startswith("Hello Ada")  # type: ignore[union-attr]
    # the same message again (an ambiguous send retried by hand) overwrites, never doubles
    with app.extensions["crm"].uow() as uow:
        uow.session.get(type(row), row.id).status = "pending"  # type: ignore[union-attr]
        uow.commit()
    sender.send_due()
    assert list((tmp_path / "mail").glob("*.eml")) == [path]


def test_an_envelope_address_that_would_break_the_smtp_command_is_refused(tmp_path: Path) -> None:
    with MailSink(tmp_path / "mail") as sink:
        transport = SmtpTransport(config_for(sink.port).smtp)
        email = Email("<x@crm.test>", "hello", b"Subject: hello\r\n\r\nbody\r\n")
        with pytest.raises(PermanentFailure, match="cannot be written in an SMTP command"):
            transport.send(email, "no-reply@crm.test", ["a@example.com>\r\nRCPT TO:<b@example.com"])
        transport.send(email, "no-reply@crm.test", ["a@example.com"])  # the connection goes on
        transport.close()
        [path] = sink.wait_for_messages(1)
    assert parsed(path)["X-Envelope-To"] == "a@example.com"


def test_lines_of_dots_and_any_line_ends_arrive_as_written(tmp_path: Path) -> None:
    body = b".\r\n..\r\n.leading\nbare LF\rbare CR\r\n.\r\nlast"
    with MailSink(tmp_path / "mail") as sink:
        transport = SmtpTransport(config_for(sink.port).smtp)
        for subject in ("one", "two"):  # a line of one dot did not end the first message early
            email = Email(f"<{subject}@crm.test>", subject, b"Subject: %b\r\n\r\n%b" % (
                subject.encode(), body))  # fmt: skip
            transport.send(email, "no-reply@crm.test", ["a@example.com"])
        transport.close()
        paths = sink.wait_for_messages(2)
    received = sorted(path.read_bytes().split(b"\r\n\r\n", 1)[1] for path in paths)
    assert received == [b".\r\n..\r\n.leading\r\nbare LF\r\nbare CR\r\n.\r\nlast\r\n"] * 2
