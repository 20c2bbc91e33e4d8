"""The sender's batches on PostgreSQL and a real SMTP server: the next batch is claimed while one
goes out, and a sender that stops mid-batch gives the batch it claimed ahead back (pending, not
`ambiguous`: none of it was handed over), so only what may have gone out is ever ambiguous."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from flask import Flask

from services.notifications.config import SmtpConfig
from services.notifications.handlers import delivery_row, project, record_rows
from services.notifications.message import Email
from services.notifications.sender import DeliverySender
from services.notifications.transport import SmtpTransport
from shared.db import UnitOfWorkFactory, utcnow
from shared.events.envelope import make_event
from shared.mailsink import MailSink
from tests.integration.notifications.mailing import config_for, deliveries

pytestmark = [pytest.mark.needs_postgres]


def _pending(app: Flask, count: int) -> list[uuid.UUID]:
    """`count` pending `account.activated` emails to known, consenting customers."""
    customers = [uuid.uuid4() for _ in range(count)]
    with app.extensions["crm"].uow() as uow:
        project(uow, [{"customer_id": c, "as_of": utcnow(), "email": f"{c.hex[:8]}@example.com",
                       "language": "en", "email_consent": True} for c in customers])  # fmt: skip
        for customer in customers:
            event = make_event("account.activated", {"customer_id": str(customer)}, "test")
            record_rows(uow, [delivery_row(uow, event, "account.activated", customer)])
        uow.commit()
    return customers


class _StopsAfter(SmtpTransport):
    """Sends `count` messages, then the worker is killed (in the middle of its batch)."""

    def __init__(self, config: SmtpConfig, count: int) -> None:
        super().__init__(config)
        self.count = count

    def send(self, message: Email, sender: str, recipients: list[str]) -> None:
        if self.count == 0:
            raise KeyboardInterrupt("the worker is stopped")
        self.count -= 1
        super().send(message, sender, recipients)


def _sender(app: Flask, transport: SmtpTransport, batch_size: int) -> DeliverySender:
    factory = app.extensions["crm"].session_factory
    config = config_for(transport.config.port)
    return DeliverySender(
        factory, UnitOfWorkFactory(factory, "notifications"), transport, config,
        "CRM <no-reply@crm.test>", batch_size=batch_size,
    )  # fmt: skip


def test_batches_go_out_one_after_another_every_email_once(app: Flask, tmp_path: Path) -> None:
    _pending(app, 7)
    with MailSink(tmp_path / "mail") as sink:
        sender = _sender(app, SmtpTransport(config_for(sink.port).smtp), batch_size=3)
        assert sender.send_due() == 7
        sender.transport.close()
        assert len(sink.wait_for_messages(7)) == 7
    rows = deliveries(app)
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1)] * 7


def test_a_sender_stopped_mid_batch_gives_back_the_batch_it_claimed_ahead(
    app: Flask, tmp_path: Path
) -> None:
    _pending(app, 6)
    with MailSink(tmp_path / "mail") as sink:
        transport = _StopsAfter(config_for(sink.port).smtp, count=1)
        sender = _sender(app, transport, batch_size=3)
        with pytest.raises(KeyboardInterrupt):
            sender.send_due()
        transport.close()
        assert len(sink.wait_for_messages(1)) == 1
    statuses = sorted((r.status, r.attempts) for r in deliveries(app))
    # the first batch is claimed: one went out, two were in hand (the lease makes them
    # ambiguous); the batch claimed ahead is pending again, its attempt not counted
    assert statuses == [("pending", 0)] * 3 + [("sending", 1)] * 3
