"""Fixtures of the registration service's integration tests: the app on PostgreSQL, a client,
helpers that sign up, log in and read the links the outbox carries."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.customers.app import create_app as create_customers_app
from services.customers.models import DEFAULT_STATUSES, Status
from services.registration.app import create_app
from services.registration.config import Limit, RegistrationConfig
from shared.db import OutboxMessage
from shared.events.consumer import EventDispatcher, Handler
from shared.events.registry import parse_event
from shared.settings import Settings

PASSWORD = "correct horse battery staple"


@pytest.fixture
def registration_settings(pg_settings: Callable[..., Settings]) -> Settings:
    """The registration service's settings on its emptied PostgreSQL test database."""
    return pg_settings("registration")


@pytest.fixture
def config() -> RegistrationConfig:
    """The service's own settings: the defaults, with room for every test's sign-ups."""
    return RegistrationConfig(signups_per_ip=Limit(1000, timedelta(hours=1)))


@pytest.fixture
def app(registration_settings: Settings, config: RegistrationConfig) -> Iterator[Flask]:
    app = create_app(registration_settings, config)
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def staff(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """A staff member who may read and write customers and change settings."""
    return make_token("customers:read", "customers:write", "settings:write")


@pytest.fixture
def configure(client: FlaskClient, staff: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Saves the registration settings (defaults overridden by the keywords)."""

    def _configure(**values: Any) -> dict[str, Any]:
        body = {
            "signup_notification": True,
            "admin_approval": "none",
            "new_device_confirmation": False,
            "email_validation": "none",
            **values,
        }
        response = client.put("/registration/settings", json=body, headers=staff)
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    return _configure


@pytest.fixture
def sign_up(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """Signs up through the API (a unique individual by default); the 202's body."""

    def _sign_up(**fields: Any) -> dict[str, Any]:
        body = {
            "email": f"{uuid.uuid4().hex[:12]}@example.com",
            "password": PASSWORD,
            "kind": "individual",
            "first_name": "Ada",
            "last_name": "Lovelace",
            **fields,
        }
        response = client.post("/registration/signups", json=body)
        assert response.status_code == 202, response.get_json()
        return {**response.get_json(), "email": body["email"], "password": body["password"]}

    return _sign_up


@pytest.fixture
def log_in(client: FlaskClient) -> Callable[..., Any]:
    """Logs in through the API; the response."""

    def _log_in(
        email: str, password: str = PASSWORD, device_id: str = "laptop-1", **kw: Any
    ) -> Any:
        return client.post(
            "/registration/login",
            json={"email": email, "password": password, "device_id": device_id},
            **kw,
        )

    return _log_in


@pytest.fixture
def events(app: Flask) -> Callable[..., list[dict[str, Any]]]:
    """The outbox's events (envelopes), oldest first, maybe of one type and subject."""

    def _events(type: str | None = None, subject: object | None = None) -> list[dict[str, Any]]:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if type is not None:
            stmt = stmt.where(OutboxMessage.type == type)
        if subject is not None:
            stmt = stmt.where(OutboxMessage.subject == str(subject))
        with app.extensions["crm"].session_factory() as session:
            return [json.loads(message.payload) for message in session.scalars(stmt)]

    return _events


@pytest.fixture
def link_token(events: Callable[..., list[dict[str, Any]]]) -> Callable[[str, object], str]:
    """The `token=` of the latest link of an event type for a customer."""

    def _token(type: str, customer_id: object) -> str:
        found = events(type, customer_id)
        assert found, f"no {type} for {customer_id}"
        match = re.search(r"[?&]token=([A-Za-z0-9_-]+)$", found[-1]["data"]["link"])
        assert match, found[-1]["data"]["link"]
        return match.group(1)

    return _token


@pytest.fixture
def make_customers_app(pg_settings: Callable[..., Settings]) -> Iterator[Callable[..., Flask]]:
    """The real customers app on its emptied PostgreSQL test database, with its statuses;
    keywords override its settings (e.g. where registration answers)."""
    apps: list[Flask] = []

    def _make(**overrides: Any) -> Flask:
        app = create_customers_app(pg_settings("customers", **overrides))
        with app.extensions["crm"].session_factory() as session:
            if session.scalar(select(Status.key).limit(1)) is None:
                session.add_all(
                    Status(key=key, label=label, is_default=True, position=position)
                    for key, label, position in DEFAULT_STATUSES
                )
                session.commit()
        apps.append(app)
        return app

    yield _make
    for app in apps:
        app.extensions["crm"].engine.dispose()


@pytest.fixture
def customers_app(make_customers_app: Callable[..., Flask]) -> Flask:
    return make_customers_app()


STAFF_CUSTOMERS = ("customers:read", "customers:write", "customers:delete")


@pytest.fixture
def customers_staff(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token(*STAFF_CUSTOMERS)


@pytest.fixture
def create_customer(
    customers_app: Flask, customers_staff: dict[str, str]
) -> Callable[..., dict[str, Any]]:
    """Creates a customer through customers' API, as staff do; its body."""

    def _create(**fields: Any) -> dict[str, Any]:
        body = {"kind": "individual", "first_name": "Grace", "last_name": "Hopper", **fields}
        response = customers_app.test_client().post(
            "/customers", json=body, headers=customers_staff
        )
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return _create


def deliver(
    app: Flask, service: str, handlers: Mapping[str, Sequence[Handler]], envelope: dict[str, Any]
) -> bool:
    """Hand an envelope to a service's handlers as its consumer would (inbox included);
    whether it was handled now."""
    dispatcher = EventDispatcher(service, handlers, app.extensions["crm"].uow)
    return dispatcher.dispatch(parse_event(envelope))


def outbox_of(app: Flask, type: str, subject: object) -> list[dict[str, Any]]:
    """An app's outbox events of a type about a subject, oldest first."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.type == type, OutboxMessage.subject == str(subject))
        .order_by(OutboxMessage.id)
    )
    with app.extensions["crm"].session_factory() as session:
        return [json.loads(message.payload) for message in session.scalars(stmt)]
