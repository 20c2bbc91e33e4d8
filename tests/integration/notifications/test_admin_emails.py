"""The admins' email about a sign-up awaiting approval, from real events on RabbitMQ to a real
SMTP server: sent to every address of the settings' `admin_emails`, in the default language,
whether the sign-up awaited approval at once (`registration.submitted`) or once its email was
confirmed (`registration.approval_requested`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.notifications import defaults
from services.notifications.handlers import ADMIN_KEY
from shared.events.envelope import CloudEvent
from shared.mailsink import MailSink
from shared.worker import Worker
from tests.integration.notifications.mailing import deliveries, parsed, settled

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]

ADMINS = ["boss@crm.test", "deputy@crm.test"]


def _sign_up(customer_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {"customer_id": str(customer_id), "email": "grace@example.com", "kind": "individual",
            "first_name": "Grace", "last_name": "Hopper", "language": "en", **fields}  # fmt: skip


def _admins(client: FlaskClient, writer: dict[str, str], language: str) -> None:
    answer = client.put(
        "/notifications/settings",
        json={"default_language": language, "admin_emails": ADMINS},
        headers=writer,
    )
    assert answer.status_code == 200, answer.json


@pytest.mark.parametrize("language", defaults.SHIPPED_LANGUAGES)
def test_a_sign_up_awaiting_approval_after_its_email_is_confirmed_tells_every_admin(
    app: Flask, client: FlaskClient, writer: dict[str, str], sink: MailSink,
    start_worker: Callable[..., Worker], publish: Callable[..., CloudEvent], language: str,
) -> None:  # fmt: skip
    _admins(client, writer, language)
    start_worker()
    customer = uuid.uuid4()
    publish("registration.submitted",
            _sign_up(customer, status="pending_email", signup_notification=False))  # fmt: skip
    event = publish("registration.approval_requested", _sign_up(customer))

    [row] = settled(app, 1, key=ADMIN_KEY)
    assert (row.status, row.event_id, row.to_admins) == ("sent", event.id, True), row.error
    assert (row.recipients, row.locale) == (ADMINS, language)
    [path] = sink.wait_for_messages(1)
    message = parsed(path)
    assert message["X-Envelope-To"] == ", ".join(ADMINS)
    assert str(message["Subject"]) == row.subject
    assert "Grace Hopper" in row.subject  # the shipped subject names the customer
    assert row.subject.startswith(defaults.SHIPPED[(ADMIN_KEY, language)].subject.split(":")[0])
    body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "grace@example.com" in body
    # the sign-up itself awaited the email, not the admins: one email, the confirmation's
    assert len(deliveries(app, key=ADMIN_KEY)) == 1
    assert len(sink.messages()) == 1


def test_a_sign_up_awaiting_approval_at_once_tells_the_admins_and_a_repeat_does_not_again(
    app: Flask, client: FlaskClient, writer: dict[str, str], sink: MailSink,
    start_worker: Callable[..., Worker], publish: Callable[..., CloudEvent],
) -> None:  # fmt: skip
    _admins(client, writer, "en")
    start_worker()
    customer = uuid.uuid4()
    data = _sign_up(customer, status="pending_approval", signup_notification=True)
    submitted = publish("registration.submitted", data)
    rows = settled(app, 2, customer_id=customer)
    assert sorted((r.key, r.status) for r in rows) == [
        ("registration.pending_approval", "sent"), ("registration.received", "sent")]  # fmt: skip
    publish(submitted)  # redelivered: no second email to anyone
    publish("account.activated", {"customer_id": str(customer)})  # a marker after it
    settled(app, 3, customer_id=customer)
    assert len(deliveries(app, key=ADMIN_KEY)) == 1
    assert len(sink.wait_for_messages(3)) == 3


def test_without_admin_emails_the_admins_email_is_skipped_with_the_reason(
    app: Flask, sink: MailSink, start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent],
) -> None:  # fmt: skip
    start_worker()
    customer = uuid.uuid4()
    publish("registration.approval_requested", _sign_up(customer))
    [row] = settled(app, 1, key=ADMIN_KEY)
    assert (row.status, row.error) == ("skipped", "no admin_emails in the settings")
    assert sink.messages() == []
