"""`POST /automation/events`: external events validated like consumers validate them, written to
the outbox as posted (202), none accepted from a bad batch (422 naming it), an id once."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from shared.db import OutboxMessage
from shared.events.envelope import make_event

pytestmark = pytest.mark.needs_postgres


@pytest.fixture
def publisher(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("events:publish")


def posted(app: Flask) -> list[dict[str, Any]]:
    with app.extensions["crm"].session_factory() as session:
        rows = session.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id)).all()
    return [json.loads(row) for row in rows]


def payment_event(**data: Any) -> dict[str, Any]:
    body = {"customer_id": str(uuid.uuid4()), "amount": "12.50", "currency": "EUR", **data}
    return make_event("billing.payment.recorded", body, source="billing").to_dict()


def test_one_event_is_put_on_the_bus_as_posted(
    app: Flask, client: FlaskClient, publisher: dict[str, str]
) -> None:
    event = payment_event()
    response = client.post(
        "/automation/events",
        data=json.dumps(event),
        content_type="application/cloudevents+json",
        headers=publisher,
    )
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 1, "new": 1}
    [written] = posted(app)
    assert written == event


def test_the_same_id_twice_has_no_second_effect(
    app: Flask, client: FlaskClient, publisher: dict[str, str]
) -> None:
    event = payment_event()
    client.post("/automation/events", json=event, headers=publisher)
    response = client.post("/automation/events", json=event, headers=publisher)
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 1, "new": 0}
    assert len(posted(app)) == 1


def test_a_batch_with_a_bad_event_is_refused_whole_naming_it(
    app: Flask, client: FlaskClient, publisher: dict[str, str]
) -> None:
    good, bad_currency = payment_event(), payment_event(currency="euro")
    foreign = make_event("tag.deleted", {"id": str(uuid.uuid4()), "name": "x"}, "tags").to_dict()
    control = payment_event()
    control["data"]["amount"] = "1\x00"
    response = client.post(
        "/automation/events",
        data=json.dumps([good, bad_currency, foreign, control]),
        content_type="application/cloudevents-batch+json",
        headers=publisher,
    )
    assert response.status_code == 422
    errors = response.get_json()["errors"]["json"]
    assert sorted(errors) == ["1", "2", "3"]
    assert "currency" in errors["1"]["data"]
    assert "type" in errors["2"]
    assert "data" in errors["3"]
    assert posted(app) == []


def test_a_batch_is_accepted_whole(
    app: Flask, client: FlaskClient, publisher: dict[str, str]
) -> None:
    events = [payment_event() for _ in range(3)]
    response = client.post(
        "/automation/events",
        data=json.dumps(events),
        content_type="application/cloudevents-batch+json",
        headers=publisher,
    )
    assert response.status_code == 202 and response.get_json()["new"] == 3
    assert [e["id"] for e in posted(app)] == [e["id"] for e in events]


@pytest.mark.parametrize(
    "body", ["not json", "[]", '{"specversion": "1.0"}'], ids=["not-json", "empty", "no-envelope"]
)
def test_what_is_not_an_event_is_422(
    client: FlaskClient, publisher: dict[str, str], body: str
) -> None:
    response = client.post(
        "/automation/events", data=body, content_type="application/json", headers=publisher
    )
    assert response.status_code == 422


def test_the_door_needs_events_publish(
    client: FlaskClient, make_token: Callable[..., dict[str, str]]
) -> None:
    event = payment_event()
    assert client.post("/automation/events", json=event).status_code == 401
    denied = client.post("/automation/events", json=event, headers=make_token("customers:read"))
    assert denied.status_code == 403
