"""Fixtures of the notifications tests: the app on PostgreSQL, tokens, the worker, an SMTP
server (aiosmtpd), events published as their owners publish them."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.notifications.app import create_app
from services.notifications.config import NotificationsConfig
from services.notifications.worker import build_worker
from shared.events.envelope import CloudEvent, make_event
from shared.events.owners import broker_user
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection
from shared.mailsink import MailSink
from shared.settings import Settings
from shared.worker import Worker
from tests.integration.notifications.mailing import OWNERS, config_for, contact, free_port


@pytest.fixture
def notifications_settings(pg_settings: Callable[..., Settings]) -> Settings:
    """The notifications service's settings on its emptied PostgreSQL test database."""
    return pg_settings("notifications")


@pytest.fixture
def app(notifications_settings: Settings) -> Iterator[Flask]:
    app = create_app(notifications_settings, NotificationsConfig())
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def reader(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may read but not change templates."""
    return make_token("customers:read")


@pytest.fixture
def writer(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may change templates and settings."""
    return make_token("customers:read", "notifications:write")


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def sink(tmp_path: Path, smtp_port: int) -> Iterator[MailSink]:
    with MailSink(mail_dir=tmp_path / "mail", port=smtp_port) as running:
        yield running


@pytest.fixture
def worker_settings(
    notifications_settings: Settings, broker_urls: Callable[[str], str], smtp_port: int
) -> Settings:
    return dataclasses.replace(
        notifications_settings,
        broker_url=broker_urls("notifications"),
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        mail_from="CRM <no-reply@crm.test>",
    )


@pytest.fixture
def start_worker(worker_settings: Settings) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def _start(**kwargs: Any) -> Worker:
        kwargs.setdefault("config", config_for(worker_settings.smtp_port))
        running = build_worker(worker_settings, **kwargs).start()
        assert running.consumer is not None and running.consumer.ready.wait(15)
        started.append(running)
        return running

    yield _start
    for running in started:
        running.stop()


@pytest.fixture
def publish(broker_urls: Callable[[str], str]) -> Iterator[Callable[..., CloudEvent]]:
    """Publishes an event as its owner's broker user; `publish(event)` publishes it again."""
    publishers: dict[str, EventPublisher] = {}

    def _publish(event: CloudEvent | str, data: dict[str, Any] | None = None) -> CloudEvent:
        if isinstance(event, str):
            subject = str(data["customer_id"]) if data else None  # type: ignore[index]
            event = make_event(event, data or {}, source="test", subject=subject)
        owner = OWNERS[event.type.split(".")[0]]
        if owner not in publishers:
            publishers[owner] = EventPublisher(
                make_connection(broker_urls(owner)), identity=broker_user(owner)
            )
        publishers[owner].publish_batch(
            [OutgoingMessage(routing_key=event.type, body=event.to_json(), message_id=event.id)]
        )
        return event

    yield _publish
    for publisher in publishers.values():
        publisher.close()


@pytest.fixture
def new_customer(publish: Callable[..., CloudEvent]) -> Callable[..., uuid.UUID]:
    def _new(**fields: Any) -> uuid.UUID:
        customer_id = uuid.uuid4()
        publish("customer.created", {"customer_id": str(customer_id), "kind": "individual",
                                     "status": "lead", "customer": contact(**fields)})  # fmt: skip
        return customer_id

    return _new
