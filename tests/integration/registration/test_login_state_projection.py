"""The profile's `login {enabled, email_confirmed}` follows the account through RabbitMQ
(`account.updated`): a customer staff created shows its account enabled, an operator's
`login_enabled` and a confirmed email show, and an older event never undoes a newer state; the
customer's version (ETag) stays, and no `customer.updated` is published for it."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import amqp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from kombu import Connection, Producer
from sqlalchemy import select

from services.customers.worker import build_worker as build_customers_worker
from services.registration.config import RegistrationConfig
from services.registration.models import ACTIVE, PENDING_APPROVAL, PENDING_EMAIL, REJECTED
from services.registration.worker import build_worker as build_registration_worker
from shared.api import etag_of
from shared.db import InboxMessage
from shared.events.topology import EVENTS_EXCHANGE, queue_name
from shared.settings import Settings
from shared.worker import Worker
from tests.backbone import wait_until
from tests.integration.registration.conftest import outbox_of

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]

UPDATED = "account.updated"


@pytest.fixture
def both_workers(
    app: Flask,
    customers_app: Flask,
    registration_settings: Settings,
    pg_settings: Callable[..., Settings],
    broker_urls: Callable[[str], str],
) -> Iterator[None]:
    """Registration's and customers' workers (consumers and outbox relays) on RabbitMQ."""
    workers: list[Worker] = [
        build_registration_worker(
            dataclasses.replace(registration_settings, broker_url=broker_urls("registration")),
            RegistrationConfig(),
        ),
        build_customers_worker(
            dataclasses.replace(pg_settings("customers"), broker_url=broker_urls("customers"))
        ),
    ]
    # The test process's virtual host outlives each test: what earlier tests left queued for
    # these services (a sign-up of the same address...) must not reach this one.
    for service in ("registration", "customers"):
        # A queue not declared yet holds nothing: NotFound is fine.
        with (
            Connection(broker_urls(service)) as connection,
            contextlib.suppress(amqp.exceptions.NotFound),
        ):
            connection.channel().queue_purge(queue_name(service))
    try:
        for worker in workers:
            worker.start()
            assert worker.consumer is not None and worker.consumer.ready.wait(30)
        yield
    finally:
        for worker in reversed(workers):
            worker.stop()


def _profile(customers_app: Flask, headers: dict[str, str], customer_id: object) -> Any:
    response = customers_app.test_client().get(f"/customers/{customer_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response


def _login_shows(
    customers_app: Flask, headers: dict[str, str], customer_id: object, **login: bool
) -> Any:
    """Wait until the profile exists and its `login` holds these values; the response."""

    def _shown() -> Any:
        response = customers_app.test_client().get(f"/customers/{customer_id}", headers=headers)
        if response.status_code == 404:  # a sign-up's profile, its event in flight
            return None
        assert response.status_code == 200, response.get_json()
        shown = response.get_json()["login"]
        return response if all(shown[name] == value for name, value in login.items()) else None

    return wait_until(_shown)


def _inbox_has(customers_app: Flask, event_id: str) -> bool:
    with customers_app.extensions["crm"].session_factory() as session:
        found = session.scalar(
            select(InboxMessage.event_id).where(InboxMessage.event_id == uuid.UUID(event_id))
        )
    return found is not None


@pytest.mark.usefixtures("both_workers")
def test_the_profile_follows_the_account_and_an_older_event_never_undoes_a_newer_one(
    configure: Callable[..., dict[str, Any]],
    create_customer: Callable[..., dict[str, Any]],
    app: Flask,
    customers_app: Flask,
    client: FlaskClient,
    staff: dict[str, str],
    customers_staff: dict[str, str],
    broker_urls: Callable[[str], str],
) -> None:
    configure(email_validation="none")
    customer = create_customer(email="grace@example.com")
    assert customer["login"] == {"enabled": False, "email_confirmed": False}
    customer_id = customer["id"]

    # Registration gives the customer its account (active, login on) and says so.
    shown = _login_shows(customers_app, customers_staff, customer_id, enabled=True)
    assert shown.get_json()["login"] == {"enabled": True, "email_confirmed": False}
    etag = shown.headers["ETag"]
    assert etag == etag_of(customer_id, 1)  # the customer's own version is untouched
    [adopted] = outbox_of(app, UPDATED, customer_id)
    assert adopted["data"] == {
        "customer_id": customer_id,
        "login_enabled": True,
        "email_confirmed": False,
        "status": ACTIVE,
    }

    # An operator turns the login off: the profile shows it.
    patched = client.patch(
        f"/registration/accounts/{customer_id}", json={"login_enabled": False}, headers=staff
    )
    assert patched.status_code == 200, patched.get_json()
    shown = _login_shows(customers_app, customers_staff, customer_id, enabled=False)
    assert shown.headers["ETag"] == etag
    assert outbox_of(customers_app, "customer.updated", customer_id) == []

    # The older event (login on) arrives again, as a new message: it changes nothing.
    stale = {**adopted, "id": str(uuid.uuid4())}
    with Connection(broker_urls("registration")) as connection:
        Producer(connection, exchange=EVENTS_EXCHANGE).publish(
            json.dumps(stale),
            routing_key=UPDATED,
            content_type="application/json",
            user_id="crm-registration",
            declare=[EVENTS_EXCHANGE],
        )
    wait_until(lambda: _inbox_has(customers_app, stale["id"]))
    assert _profile(customers_app, customers_staff, customer_id).get_json()["login"] == {
        "enabled": False,
        "email_confirmed": False,
    }


@pytest.mark.usefixtures("both_workers")
def test_a_confirmed_email_shows_on_the_sign_ups_profile(
    customers_app: Flask,
    customers_staff: dict[str, str],
    configure: Callable[..., dict[str, Any]],
    sign_up: Callable[..., dict[str, Any]],
    link_token: Callable[[str, object], str],
    client: FlaskClient,
) -> None:
    configure(email_validation="required")
    signed = sign_up()
    assert signed["status"] == PENDING_EMAIL
    shown = _login_shows(customers_app, customers_staff, signed["customer_id"], enabled=True)
    assert shown.get_json()["login"]["email_confirmed"] is False

    token = link_token("registration.email_confirmation_requested", signed["customer_id"])
    confirmed = client.post("/registration/email-confirmations", json={"token": token})
    assert confirmed.status_code == 200, confirmed.get_json()

    _login_shows(customers_app, customers_staff, signed["customer_id"], email_confirmed=True)


def test_approval_and_rejection_publish_the_account_state(
    client: FlaskClient,
    staff: dict[str, str],
    configure: Callable[..., dict[str, Any]],
    sign_up: Callable[..., dict[str, Any]],
    events: Callable[..., list[dict[str, Any]]],
) -> None:
    configure(admin_approval="all")
    approved, rejected = sign_up(), sign_up()
    for signed in (approved, rejected):
        [submitted] = events(UPDATED, signed["customer_id"])
        assert submitted["data"]["status"] == PENDING_APPROVAL

    answers = [
        client.post(f"/registration/signups/{approved['customer_id']}/approve", headers=staff),
        client.post(
            f"/registration/signups/{rejected['customer_id']}/reject",
            json={"reason": "unknown company"},
            headers=staff,
        ),
    ]
    assert [answer.status_code for answer in answers] == [200, 200], answers[1].get_json()

    assert events(UPDATED, approved["customer_id"])[-1]["data"]["status"] == ACTIVE
    assert events(UPDATED, rejected["customer_id"])[-1]["data"]["status"] == REJECTED
