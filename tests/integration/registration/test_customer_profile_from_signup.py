"""customers creates the profile of a sign-up from `registration.submitted`, with its id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from services.customers.handlers import SUBSCRIPTIONS
from services.customers.models import Customer
from shared.db import OutboxMessage
from tests.integration.registration.conftest import deliver


def _deliver(customers_app: Flask, envelope: dict[str, Any]) -> None:
    deliver(customers_app, "customers", SUBSCRIPTIONS, envelope)


def _customer(customers_app: Flask, customer_id: str) -> Customer | None:
    with customers_app.extensions["crm"].session_factory() as session:
        return session.scalars(select(Customer).where(Customer.id == customer_id)).first()


def test_a_sign_up_becomes_a_customer_with_the_same_id(
    customers_app: Flask,
    sign_up: Callable[..., dict[str, Any]],
    events: Callable[..., list[dict[str, Any]]],
    client: FlaskClient,
) -> None:
    signed = sign_up(kind="company", company_name="Analytical Engines", language="en")
    submitted = events("registration.submitted", signed["customer_id"])[0]
    _deliver(customers_app, submitted)
    _deliver(customers_app, submitted)  # redelivered: no second profile, no second event
    customer = _customer(customers_app, signed["customer_id"])
    assert customer is not None
    assert (customer.kind, customer.company_name, customer.email, customer.language) == (
        "company",
        "Analytical Engines",
        signed["email"],
        "en",
    )
    assert customer.email_consent is False and customer.login_enabled is True
    with customers_app.extensions["crm"].session_factory() as session:
        created = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.type == "customer.created",
                OutboxMessage.subject == signed["customer_id"],
            )
        ).all()
    assert len(created) == 1


def test_a_sign_up_whose_email_a_customer_has_is_created_flagged_without_it(
    customers_app: Flask,
    sign_up: Callable[..., dict[str, Any]],
    events: Callable[..., list[dict[str, Any]]],
) -> None:
    first = sign_up()
    second = sign_up()
    other = events("registration.submitted", second["customer_id"])[0]
    other["data"]["email"] = first["email"]  # staff created a customer with it, say
    _deliver(customers_app, events("registration.submitted", first["customer_id"])[0])
    _deliver(customers_app, other)
    customer = _customer(customers_app, second["customer_id"])
    assert customer is not None
    assert customer.email is None and customer.is_conflict is True
