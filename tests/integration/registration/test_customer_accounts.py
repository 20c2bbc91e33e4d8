"""Every customer has an account: one staff created gets it from `customer.created` (through
RabbitMQ, once), it follows `customer.updated`, goes with `customer.deleted` and a merge's
duplicate; an operator who uses it before the event arrives is answered (read your writes)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from kombu import Connection, Producer
from sqlalchemy import func, select

from services.customers.handlers import SUBSCRIPTIONS as CUSTOMERS_SUBSCRIPTIONS
from services.registration.app import create_app
from services.registration.config import RegistrationConfig
from services.registration.handlers import SUBSCRIPTIONS
from services.registration.models import ACTIVE, Account
from services.registration.worker import build_worker
from shared.db import OutboxMessage
from shared.events.topology import EVENTS_EXCHANGE
from shared.settings import Settings
from tests.integration.registration.conftest import PASSWORD, deliver, outbox_of
from tests.wsgi_server import served


def _account(app: Flask, customer_id: object) -> Account | None:
    with app.extensions["crm"].session_factory() as session:
        return session.get(Account, uuid.UUID(str(customer_id)))


def _to_registration(app: Flask, envelope: dict[str, Any]) -> bool:
    return deliver(app, "registration", SUBSCRIPTIONS, envelope)


def _wait_until(condition: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


@pytest.mark.needs_rabbitmq
def test_a_customer_staff_created_gets_an_account_from_rabbitmq_once(
    app: Flask,
    client: FlaskClient,
    registration_settings: Settings,
    broker_urls: Callable[[str], str],
    customers_app: Flask,
    create_customer: Callable[..., dict[str, Any]],
    configure: Callable[..., dict[str, Any]],
    staff: dict[str, str],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    customer = create_customer(email="grace@example.com")
    [created] = outbox_of(customers_app, "customer.created", customer["id"])
    worker = build_worker(
        Settings(**{**registration_settings.__dict__, "broker_url": broker_urls("registration")}),
        RegistrationConfig(),
    )
    worker.start()
    try:
        assert worker.consumer is not None and worker.consumer.ready.wait(30)
        with Connection(broker_urls("customers")) as connection:
            producer = Producer(connection, exchange=EVENTS_EXCHANGE)
            for _ in range(2):  # delivered twice: one account, no error
                producer.publish(
                    json.dumps(created),
                    routing_key="customer.created",
                    content_type="application/json",
                    user_id="crm-customers",
                    declare=[EVENTS_EXCHANGE],
                )
        _wait_until(lambda: _account(app, customer["id"]) is not None)
    finally:
        worker.stop()

    answer = client.get(f"/registration/accounts/{customer['id']}", headers=staff).get_json()
    assert answer["email"] == "grace@example.com" and answer["status"] == ACTIVE
    assert answer["has_password"] is False and answer["email_confirmed"] is False
    assert log_in("grace@example.com", PASSWORD).status_code == 401  # no password yet
    # The operator gives one: the customer logs in, and must change it first.
    patched = client.patch(
        f"/registration/accounts/{customer['id']}", json={"password": PASSWORD}, headers=staff
    )
    assert patched.status_code == 200, patched.get_json()
    assert log_in("grace@example.com").get_json() == {"status": "password_change_required"}


def test_a_sign_ups_own_customer_created_changes_nothing(
    app: Flask,
    customers_app: Flask,
    sign_up: Callable[..., dict[str, Any]],
    events: Callable[..., list[dict[str, Any]]],
    configure: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    signed = sign_up()
    [submitted] = events("registration.submitted", signed["customer_id"])
    deliver(customers_app, "customers", CUSTOMERS_SUBSCRIPTIONS, submitted)
    [created] = outbox_of(customers_app, "customer.created", signed["customer_id"])

    assert _to_registration(app, created)

    assert log_in(signed["email"]).status_code == 200  # its password and status kept


def test_the_account_follows_the_email_and_goes_with_the_customer(
    app: Flask,
    customers_app: Flask,
    create_customer: Callable[..., dict[str, Any]],
    customers_staff: dict[str, str],
) -> None:
    kept, merged_away = create_customer(email="ada@example.com"), create_customer()
    for customer in (kept, merged_away):
        _to_registration(app, outbox_of(customers_app, "customer.created", customer["id"])[0])
    account = _account(app, merged_away["id"])
    assert account is not None and account.email is None  # no email yet: no login

    customers = customers_app.test_client()
    changed = customers.patch(
        f"/customers/{kept['id']}",
        json={"email": "ada.lovelace@example.com", "last_name": "Lovelace"},
        headers=customers_staff,
    )
    assert changed.status_code == 200, changed.get_json()
    _to_registration(app, outbox_of(customers_app, "customer.updated", kept["id"])[-1])
    account = _account(app, kept["id"])
    assert account is not None
    assert (account.email, account.email_key, account.last_name) == (
        "ada.lovelace@example.com",
        "ada.lovelace@example.com",
        "Lovelace",
    )

    merged = customers.post(
        f"/customers/{kept['id']}/merge",
        json={"duplicate_id": merged_away["id"]},
        headers=customers_staff,
    )
    assert merged.status_code == 200, merged.get_json()
    _to_registration(app, outbox_of(customers_app, "customer.merged", kept["id"])[-1])
    assert _account(app, merged_away["id"]) is None
    assert _account(app, kept["id"]) is not None

    deleted = customers.delete(f"/customers/{kept['id']}", headers=customers_staff)
    assert deleted.status_code == 204
    _to_registration(app, outbox_of(customers_app, "customer.deleted", kept["id"])[-1])
    assert _account(app, kept["id"]) is None


def test_an_operator_uses_the_account_of_a_customer_created_a_moment_ago(
    registration_settings: Settings,
    config: RegistrationConfig,
    customers_app: Flask,
    create_customer: Callable[..., dict[str, Any]],
    staff: dict[str, str],
) -> None:
    with served(customers_app) as customers_url:
        registration = create_app(
            Settings(
                **{**registration_settings.__dict__, "service_urls": {"customers": customers_url}}
            ),
            config,
        )
        client = registration.test_client()
        customer = create_customer(email="katherine@example.com")
        # customer.created is still on its way: registration asks customers.
        patched = client.patch(
            f"/registration/accounts/{customer['id']}",
            json={"password": PASSWORD},
            headers=staff,
        )
        assert patched.status_code == 200, patched.get_json()
        assert patched.get_json()["email"] == "katherine@example.com"
        unknown = client.get(f"/registration/accounts/{uuid.uuid4()}", headers=staff)
        assert unknown.status_code == 404
        other = create_customer()
        credentials = client.post(
            f"/registration/accounts/{other['id']}/credentials", headers=staff
        )
        assert credentials.status_code == 409  # no email to send them to: said, not a 500

    # The event, arriving now, changes nothing: the password the operator set stays.
    assert _to_registration(
        registration, outbox_of(customers_app, "customer.created", customer["id"])[0]
    )
    account = _account(registration, customer["id"])
    assert account is not None and account.password_hash is not None
    registration.extensions["crm"].engine.dispose()


def test_customers_unreachable_is_a_503_for_an_id_registration_does_not_know(
    registration_settings: Settings, config: RegistrationConfig, staff: dict[str, str]
) -> None:
    closed = "http://127.0.0.1:9"  # nothing answers there
    registration = create_app(
        Settings(**{**registration_settings.__dict__, "service_urls": {"customers": closed}}),
        config,
    )
    answer = registration.test_client().get(f"/registration/accounts/{uuid.uuid4()}", headers=staff)
    assert answer.status_code == 503 and answer.headers["Retry-After"]
    registration.extensions["crm"].engine.dispose()


def test_with_validation_required_a_login_given_by_staff_comes_with_the_email_link(
    app: Flask,
    client: FlaskClient,
    customers_app: Flask,
    create_customer: Callable[..., dict[str, Any]],
    staff: dict[str, str],
    log_in: Callable[..., Any],
    link_token: Callable[[str, object], str],
    events: Callable[..., list[dict[str, Any]]],
) -> None:
    # The default settings: email validation required.
    customer = create_customer(email="dorothy@example.com")
    _to_registration(app, outbox_of(customers_app, "customer.created", customer["id"])[0])
    path = f"/registration/accounts/{customer['id']}"
    assert client.patch(path, json={"password": PASSWORD}, headers=staff).status_code == 200
    assert client.post(f"{path}/credentials", headers=staff).status_code == 202
    # One link for both (the first is still valid), and no login before it is followed.
    assert len(events("registration.email_confirmation_requested", customer["id"])) == 1
    assert log_in("dorothy@example.com", PASSWORD).status_code == 401

    token = link_token("registration.email_confirmation_requested", customer["id"])
    confirmed = client.post("/registration/email-confirmations", json={"token": token})
    assert confirmed.status_code == 200, confirmed.get_json()
    [generated] = events("account.credentials_generated", customer["id"])
    answer = log_in("dorothy@example.com", generated["data"]["password"])
    assert answer.get_json() == {"status": "password_change_required"}


def test_a_survivor_without_a_password_takes_the_login_of_the_sign_up_merged_into_it(
    app: Flask,
    customers_app: Flask,
    create_customer: Callable[..., dict[str, Any]],
    customers_staff: dict[str, str],
    sign_up: Callable[..., dict[str, Any]],
    events: Callable[..., list[dict[str, Any]]],
    configure: Callable[..., dict[str, Any]],
    log_in: Callable[..., Any],
) -> None:
    configure(email_validation="none")
    kept = create_customer()  # staff created it without an email: no login
    signed = sign_up()  # the same person signed up later
    deliver(
        customers_app,
        "customers",
        CUSTOMERS_SUBSCRIPTIONS,
        events("registration.submitted", signed["customer_id"])[0],
    )
    _to_registration(app, outbox_of(customers_app, "customer.created", kept["id"])[0])
    last = _last_published(customers_app)
    merged = customers_app.test_client().post(
        f"/customers/{kept['id']}/merge",
        json={"duplicate_id": signed["customer_id"]},
        headers=customers_staff,
    )
    assert merged.status_code == 200, merged.get_json()

    # Every event of the merge, in the order customers published them.
    published = _published_after(customers_app, last)
    assert {"customer.merged", "customer.deleted"} <= {e["type"] for e in published}
    for envelope in published:
        _to_registration(app, envelope)

    assert _account(app, signed["customer_id"]) is None
    answer = log_in(signed["email"])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["customer_id"] == kept["id"]


def _last_published(customers_app: Flask) -> int:
    with customers_app.extensions["crm"].session_factory() as session:
        return int(session.scalar(select(func.max(OutboxMessage.id))) or 0)


def _published_after(customers_app: Flask, last: int) -> list[dict[str, Any]]:
    """customers' events published after `last`, in their order, that registration handles."""
    with customers_app.extensions["crm"].session_factory() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id > last).order_by(OutboxMessage.id)
        ).all()
    return [e for e in (json.loads(row.payload) for row in rows) if e["type"] in SUBSCRIPTIONS]
