"""A client that signs up and reads `GET /customers/{id}` at once gets the profile, not a 404,
while `registration.submitted` is in flight: customers asks registration for that event and
handles it as its consumer would, so the event arriving later changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.customers.handlers import SUBSCRIPTIONS
from services.customers.models import TimelineEntry
from tests.integration.registration.conftest import deliver, outbox_of
from tests.wsgi_server import served


@pytest.fixture
def customers_api(app: Flask, make_customers_app: Callable[..., Flask]) -> Iterator[Flask]:
    """customers, asking the registration app (served over HTTP) about ids it does not know."""
    with served(app) as registration_url:
        yield make_customers_app(service_urls={"registration": registration_url})


@pytest.fixture
def reader(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read", "customers:write", "customers:delete")


def _timeline_entries(customers: Flask, customer_id: str) -> int:
    with customers.extensions["crm"].session_factory() as session:
        count = session.scalar(
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.customer_id == customer_id)
        )
    return int(count or 0)


@pytest.fixture
def signed(
    sign_up: Callable[..., dict[str, Any]],
    events: Callable[..., list[dict[str, Any]]],
    configure: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """A sign-up (active at once), with the `registration.submitted` it published."""
    configure(email_validation="none")
    signed = sign_up(first_name="Mary", last_name="Jackson", language="en")
    [submitted] = events("registration.submitted", signed["customer_id"])
    return {**signed, "submitted": submitted}


def test_a_sign_up_is_read_at_once_and_its_event_then_changes_nothing(
    customers_api: Flask, signed: dict[str, Any], reader: dict[str, str]
) -> None:
    customers = customers_api.test_client()

    answer = customers.get(f"/customers/{signed['customer_id']}", headers=reader)

    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["email"], body["first_name"], body["language"]) == (
        signed["email"],
        "Mary",
        "en",
    )
    assert len(outbox_of(customers_api, "customer.created", signed["customer_id"])) == 1
    timeline = _timeline_entries(customers_api, signed["customer_id"])
    assert timeline == 1  # the sign-up's entry, as the consumer writes it
    # RabbitMQ brings the event now: the inbox knows it.
    assert deliver(customers_api, "customers", SUBSCRIPTIONS, signed["submitted"]) is False
    assert len(outbox_of(customers_api, "customer.created", signed["customer_id"])) == 1
    assert _timeline_entries(customers_api, signed["customer_id"]) == timeline


def test_a_deleted_sign_up_is_not_brought_back_nor_an_unknown_id_invented(
    customers_api: Flask,
    signed: dict[str, Any],
    sign_up: Callable[..., dict[str, Any]],
    reader: dict[str, str],
) -> None:
    submitted = signed["submitted"]
    customers = customers_api.test_client()
    deliver(customers_api, "customers", SUBSCRIPTIONS, submitted)
    path = f"/customers/{signed['customer_id']}"
    assert customers.delete(path, headers=reader).status_code == 204

    # registration still has the account (customer.deleted has not reached it yet)...
    assert customers.get(path, headers=reader).status_code == 404
    deliver(customers_api, "customers", SUBSCRIPTIONS, submitted)  # ...nor does a redelivery
    assert customers.get(path, headers=reader).status_code == 404
    taken = sign_up(email=signed["email"])  # a taken email: an id that exists nowhere
    assert customers.get(f"/customers/{taken['customer_id']}", headers=reader).status_code == 404


def test_registration_unreachable_leaves_an_unknown_customer_a_404(
    make_customers_app: Callable[..., Flask], reader: dict[str, str], client: FlaskClient
) -> None:
    customers = make_customers_app(service_urls={"registration": "http://127.0.0.1:9"})
    missing = "6f1c2b4e-8d3a-4f5e-9a7b-1c2d3e4f5a6b"
    assert customers.test_client().get(f"/customers/{missing}", headers=reader).status_code == 404


def test_the_submitted_event_is_for_staff_and_services_only(
    client: FlaskClient,
    signed: dict[str, Any],
    staff: dict[str, str],
    make_token: Callable[..., dict[str, str]],
) -> None:
    path = f"/registration/signups/{signed['customer_id']}/submitted"
    assert client.get(path).status_code == 401
    assert client.get(path, headers=make_token("tags:write")).status_code == 403
    answer = client.get(path, headers=staff)
    assert answer.status_code == 200
    assert answer.get_json()["data"]["email"] == signed["email"]
