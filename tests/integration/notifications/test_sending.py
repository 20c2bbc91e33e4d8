"""Emails from real events on RabbitMQ to a real SMTP server (aiosmtpd): every key and language,
the fallback, consent, retries, once per event and key, ambiguous sends, header injection."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.notifications import defaults
from services.notifications.config import SmtpConfig
from services.notifications.models import Delivery
from services.notifications.sender import DELIVERIES, DeliverySender
from services.notifications.transport import SmtpTransport
from shared.db import OutboxMessage, UnitOfWorkFactory
from shared.events.envelope import CloudEvent
from shared.mailsink import EmlWriter, MailSink, _Controller
from shared.settings import Settings
from shared.worker import Worker
from tests.backbone import wait_until
from tests.integration.notifications.mailing import (
    config_for,
    contact,
    deliveries,
    free_port,
    parsed,
    save,
    settled,
)

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]


# --- every key in every language ----------------------------------------------------------------
def _events_for(customer_id: uuid.UUID, tag_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    c = str(customer_id)
    return [
        ("registration.submitted", {"customer_id": c, "email": "x@example.com",
                                    "kind": "individual", "status": "active",
                                    "signup_notification": True}),
        ("registration.email_confirmation_requested",
         {"customer_id": c, "link": "https://crm.test/confirm?token=abc"}),
        ("registration.approved", {"customer_id": c}),
        ("registration.rejected", {"customer_id": c, "reason": "incomplete"}),
        ("account.activated", {"customer_id": c}),
        ("account.credentials_generated", {"customer_id": c, "login": "ada", "password": "s3cret"}),
        ("device.confirmation_requested",
         {"customer_id": c, "device_id": "d1", "link": "https://crm.test/device?token=xyz"}),
        ("customer.tagged", {"customer_id": c, "tag_id": str(tag_id), "tag_name": "VIP",
                             "reason": "manual"}),
        ("customer.status_changed", {"customer_id": c, "from": "lead", "to": "vip",
                                     "reason": "manual"}),
    ]  # fmt: skip


@pytest.mark.parametrize("language", defaults.SHIPPED_LANGUAGES)
def test_every_key_goes_out_in_the_customers_language(
    app: Flask, client: FlaskClient, writer: dict[str, str], sink: MailSink,
    start_worker: Callable[..., Worker], publish: Callable[..., CloudEvent],
    new_customer: Callable[..., uuid.UUID], language: str,
) -> None:  # fmt: skip
    tag_id = uuid.uuid4()
    # tag and status emails exist once staff wrote one (here in another language)
    save(client, writer, f"tag.applied.{tag_id}", "de", "Tag {{ tag.name }}")
    save(client, writer, "status.changed.vip", "de", "Status {{ status.to }}")
    start_worker()
    customer = new_customer(language=language, email_consent=True)
    events = _events_for(customer, tag_id)
    for event_type, data in events:
        publish(event_type, data)

    rows = settled(app, len(events), customer_id=customer)
    assert {r.status for r in rows} == {"sent"}, [(r.key, r.error) for r in rows]
    assert {r.locale for r in rows} == {language}
    messages = [parsed(path) for path in sink.wait_for_messages(len(events))]
    assert len(messages) == len(events)
    assert {m["Content-Language"] for m in messages} == {language}
    assert {str(m["Subject"]) for m in messages} == {r.subject for r in rows}
    shipped_subjects = {defaults.SHIPPED[(defaults.family_of(r.key), language)].subject
                        for r in rows}  # fmt: skip
    assert "Vos identifiants de connexion" in shipped_subjects or language != "fr"
    for message in messages:
        assert message["Message-ID"].endswith("@crm.test>")
        assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
    links = [m.get_body(("plain",)).get_content() for m in messages]  # type: ignore[union-attr]
    assert any("token=abc" in body for body in links)
    assert any("s3cret" in body for body in links)


def test_the_fallback_goes_to_the_base_language_then_the_default_never_a_sibling(
    app: Flask, client: FlaskClient, writer: dict[str, str], sink: MailSink,
    start_worker: Callable[..., Worker], publish: Callable[..., CloudEvent],
    new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    key = "account.activated"
    save(client, writer, key, "en_ZA", "South African")
    save(client, writer, key, "fr_BE", "Belge")
    client.put("/notifications/settings", json={"default_language": "it", "admin_emails": []},
               headers=writer)  # fmt: skip
    start_worker()
    cases = {"fr-be": ("fr_BE", "exact"), "fr_CA": ("fr", "base"), "en": ("en", "exact"),
             "xx_YY": ("it", "default"), "???": ("it", "default")}  # fmt: skip
    ids = {}
    for code in cases:
        ids[code] = new_customer(language=code)
        publish("account.activated", {"customer_id": str(ids[code])})
    for code, (locale, fallback) in cases.items():
        [row] = settled(app, 1, customer_id=ids[code])
        assert (row.status, row.locale, row.fallback) == ("sent", locale, fallback), code
    subjects = {str(parsed(p)["Subject"]) for p in sink.wait_for_messages(len(cases))}
    assert "South African" not in subjects and "Belge" in subjects


# --- consent ------------------------------------------------------------------------------------
def test_tag_and_status_emails_need_consent_and_transactional_ones_do_not(
    app: Flask, client: FlaskClient, writer: dict[str, str], sink: MailSink,
    start_worker: Callable[..., Worker], publish: Callable[..., CloudEvent],
    new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    tag_id = uuid.uuid4()
    save(client, writer, f"tag.applied.{tag_id}", "fr", "Tag {{ tag.name }}")
    start_worker()
    customer = new_customer(email_consent=False)
    publish("customer.tagged", {"customer_id": str(customer), "tag_id": str(tag_id),
                                "tag_name": "VIP", "reason": "manual"})  # fmt: skip
    publish("account.activated", {"customer_id": str(customer)})

    rows = {r.key: r for r in settled(app, 2, customer_id=customer)}
    tagged = rows[f"tag.applied.{tag_id}"]
    assert (tagged.status, tagged.error, tagged.consent) == ("skipped", "no email consent", False)
    assert rows["account.activated"].status == "sent"
    assert len(sink.wait_for_messages(1)) == 1


def test_a_tag_without_a_template_sends_nothing(
    app: Flask, sink: MailSink, start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    start_worker()
    customer = new_customer()
    publish("customer.tagged", {"customer_id": str(customer), "tag_id": str(uuid.uuid4()),
                                "tag_name": "VIP", "reason": "manual"})  # fmt: skip
    publish("account.activated", {"customer_id": str(customer)})
    assert [r.key for r in settled(app, 1, customer_id=customer)] == ["account.activated"]


# --- once, and nothing lost ---------------------------------------------------------------------
def test_a_redelivered_or_republished_event_sends_one_email(
    app: Flask, sink: MailSink, start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    start_worker()
    customer = new_customer()
    event = publish("account.activated", {"customer_id": str(customer)})
    settled(app, 1, customer_id=customer)
    publish(event)
    publish(event)
    publish("registration.approved", {"customer_id": str(customer)})  # a marker after them
    settled(app, 2, customer_id=customer)
    assert len(deliveries(app, customer_id=customer, key="account.activated")) == 1
    assert len(sink.wait_for_messages(2)) == 2


def test_smtp_down_then_up_loses_nothing_and_doubles_nothing(
    app: Flask, tmp_path: Path, smtp_port: int, start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    start_worker()
    customers = [new_customer() for _ in range(3)]
    for customer in customers:
        publish("account.activated", {"customer_id": str(customer)})
    wait_until(lambda: len(rows := deliveries(app)) == 3 and all(r.attempts >= 2 for r in rows))
    assert {r.status for r in deliveries(app)} <= {"pending", "sending"}
    assert "unreachable" in (deliveries(app)[0].error or "")

    with MailSink(mail_dir=tmp_path / "late", port=smtp_port) as sink:
        rows = settled(app, 3)
        assert {r.status for r in rows} == {"sent"}
        assert len(sink.wait_for_messages(3)) == 3
        with app.extensions["crm"].session_factory() as session:
            sent_events = session.scalars(
                select(OutboxMessage).where(OutboxMessage.type == "notification.sent")
            ).all()
        assert sorted(e.subject for e in sent_events) == sorted(str(c) for c in customers)
    assert len(list((tmp_path / "late").glob("*.eml"))) == 3


class _CrashAfterSend(SmtpTransport):
    def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        super().send(message, sender, recipients)
        raise KeyboardInterrupt("the worker dies between the send and its record")


def test_a_crash_between_send_and_commit_sends_one_email_and_leaves_it_ambiguous(
    app: Flask, sink: MailSink, worker_settings: Settings, start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    customer = new_customer()
    running = start_worker(config=config_for(sink.port, lease=0.5))
    publish("account.activated", {"customer_id": str(customer)})
    settled(app, 1, customer_id=customer)
    running.stop()  # the worker's own sender sent it; the next event is ours to crash on

    publish("registration.approved", {"customer_id": str(customer)})
    config = config_for(sink.port, lease=0.5)
    factory = app.extensions["crm"].session_factory
    consumer = start_worker(
        config=dataclasses.replace(config, smtp=SmtpConfig(host="127.0.0.1", port=free_port()))
    )  # fmt: skip  (records, cannot send)
    [row] = wait_until(lambda: deliveries(app, key="registration.approved"))
    consumer.stop()
    crashing = DeliverySender(
        factory,
        UnitOfWorkFactory(factory, "notifications"),
        _CrashAfterSend(config.smtp),
        config,
        worker_settings.mail_from,
    )
    wait_until(lambda: deliveries(app, key="registration.approved")[0].next_attempt_at)
    with app.extensions["crm"].uow() as uow:
        uow.session.get(Delivery, row.id).next_attempt_at = row.created_at  # type: ignore[union-attr]
        uow.commit()
    with pytest.raises(KeyboardInterrupt):
        crashing.send_due()
    assert deliveries(app, key="registration.approved")[0].status == "sending"

    before = DELIVERIES.labels("ambiguous")._value.get()
    restarted = start_worker(config=config)
    [row] = wait_until(
        lambda: [r for r in deliveries(app, key="registration.approved") if r.status == "ambiguous"]
    )
    assert DELIVERIES.labels("ambiguous")._value.get() == before + 1
    restarted.stop()
    assert len(sink.wait_for_messages(2)) == 2
    assert len(sink.messages()) == 2  # one per event: none re-sent after the crash


# --- what the server says -----------------------------------------------------------------------
class _Refusing(EmlWriter):
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:  # fmt: skip
        return "550 5.1.1 no such mailbox here"


class _HangingUp(EmlWriter):
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await super().handle_DATA(server, session, envelope)
        assert server.transport is not None
        server.transport.close()  # took it, but the 250 never reaches the client
        return "250 OK"


@pytest.mark.parametrize(("handler", "status", "message"), [
    (_Refusing, "failed", "550 5.1.1 no such mailbox here"),
    (_HangingUp, "ambiguous", "no answer after the message was sent"),
])  # fmt: skip
def test_a_permanent_refusal_fails_and_a_lost_answer_is_ambiguous_not_resent(
    app: Flask, tmp_path: Path, smtp_port: int, start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent], new_customer: Callable[..., uuid.UUID],
    handler: type[EmlWriter], status: str, message: str,
) -> None:  # fmt: skip
    controller = _Controller(handler(tmp_path / "mail"), hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        start_worker()
        customer = new_customer()
        publish("account.activated", {"customer_id": str(customer)})
        [row] = settled(app, 1, customer_id=customer)
        assert row.status == status
        assert message in (row.error or "")
        assert row.attempts == 1
        stored = list((tmp_path / "mail").glob("*.eml"))
        assert len(stored) == (1 if status == "ambiguous" else 0)
    finally:
        controller.stop()


def test_a_name_with_line_breaks_cannot_inject_headers(
    app: Flask, client: FlaskClient, writer: dict[str, str], sink: MailSink,
    start_worker: Callable[..., Worker], publish: Callable[..., CloudEvent],
    new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    save(client, writer, "account.activated", "fr", "Bienvenue {{ customer.first_name }}")
    start_worker()
    customer = new_customer(first_name="Ada\r\nBcc: victim@example.com\r\n", last_name="L\nX: y")
    publish("account.activated", {"customer_id": str(customer)})
    [row] = settled(app, 1, customer_id=customer)
    assert row.status == "sent", row.error
    [path] = sink.wait_for_messages(1)
    message = parsed(path)
    assert message["Bcc"] is None and message["X"] is None
    assert "victim" not in message["X-Envelope-To"]
    assert str(message["Subject"]) == "Bienvenue Ada Bcc: victim@example.com"


# --- read your writes ---------------------------------------------------------------------------
class _Customers:
    """customers as the sender asks it: a fixed answer per customer id."""

    def __init__(self, known: dict[uuid.UUID, dict[str, Any]]) -> None:
        self.known = known
        self.asked: list[uuid.UUID] = []

    def contact(self, customer_id: uuid.UUID) -> dict[str, Any] | None:
        self.asked.append(customer_id)
        return self.known.get(customer_id)


def test_a_customer_the_projection_does_not_know_yet_is_asked_of_customers(
    app: Flask, sink: MailSink, start_worker: Callable[..., Worker],
    publish: Callable[..., CloudEvent],
) -> None:  # fmt: skip
    known, unknown = uuid.uuid4(), uuid.uuid4()
    customers = _Customers({known: contact(language="it")})
    start_worker(customers=customers)
    publish("account.activated", {"customer_id": str(known)})
    publish("account.activated", {"customer_id": str(unknown)})

    [row] = settled(app, 1, customer_id=known)
    assert (row.status, row.locale) == ("sent", "it")
    waiting = wait_until(lambda: [r for r in deliveries(app, customer_id=unknown) if r.attempts])
    assert waiting[0].status == "pending" and "not known yet" in (waiting[0].error or "")
    publish("customer.created", {"customer_id": str(unknown), "kind": "individual",
                                 "status": "lead", "customer": contact(language="en")})  # fmt: skip
    [row] = settled(app, 1, customer_id=unknown)
    assert (row.status, row.locale) == ("sent", "en")
    assert known in customers.asked


# --- the delivery log ---------------------------------------------------------------------------
def test_the_delivery_log_is_filtered_by_customer_key_and_status(
    app: Flask, client: FlaskClient, reader: dict[str, str], sink: MailSink,
    start_worker: Callable[..., Worker], publish: Callable[..., CloudEvent],
    new_customer: Callable[..., uuid.UUID],
) -> None:  # fmt: skip
    start_worker()
    first, second = new_customer(), new_customer(email=None)
    event = publish("account.activated", {"customer_id": str(first)})
    publish("account.activated", {"customer_id": str(second)})
    publish("registration.approved", {"customer_id": str(first)})
    settled(app, 3)

    page = client.get(f"/notifications/deliveries?customer_id={first}&limit=1", headers=reader)
    assert page.status_code == 200
    [newest] = page.json["items"]
    assert newest["key"] == "registration.approved" and page.json["next_cursor"]
    rest = client.get(f"/notifications/deliveries?customer_id={first}&cursor="
                      f"{page.json['next_cursor']}", headers=reader).json  # fmt: skip
    [older] = rest["items"]
    assert (older["event_id"], older["status"], older["locale"]) == (event.id, "sent", "fr")
    assert older["message_id"] == f"<{event.id}.account.activated@crm.test>"
    skipped = client.get("/notifications/deliveries?status=skipped", headers=reader).json
    assert [(d["customer_id"], d["error"]) for d in skipped["items"]] == [
        (str(second), "the customer has no email address")
    ]
    bad = client.get("/notifications/deliveries?status=nope&from=yesterday", headers=reader)
    assert bad.status_code == 422 and set(bad.json["errors"]["query"]) == {"status", "from"}
