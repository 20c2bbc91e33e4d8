"""Custom field definitions: the API, the 409 on a change values cannot take, removal."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from services.customers.fields.values import custom_field_errors
from services.customers.models import Customer
from tests.backbone import wait_until
from tests.integration.customers.fields.conftest import AdminApi

pytestmark = pytest.mark.needs_postgres


def test_a_definition_is_created_read_listed_and_changed(api: AdminApi) -> None:
    created = api.define("loyalty", "choice", options=["silver", "gold"], kinds=["individual"])
    assert created["kinds"] == ["individual"] and created["required"] is False
    api.define("employees", "number")
    page = api.get("/customers/fields?limit=1").get_json()
    assert [item["key"] for item in page["items"]] == ["employees"]
    rest = api.get(f"/customers/fields?cursor={page['next_cursor']}")
    assert [item["key"] for item in rest.get_json()["items"]] == ["loyalty"]
    read = api.get("/customers/fields/loyalty")
    assert read.get_json()["options"] == ["silver", "gold"]
    changed = api.patch(
        "/customers/fields/loyalty",
        {"label": "Fidélité", "options": ["silver", "gold", "platinum"]},
        if_match=read.headers["ETag"],
    )
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["label"] == "Fidélité"
    stale = api.patch(
        "/customers/fields/loyalty", {"label": "Again"}, if_match=read.headers["ETag"]
    )
    assert stale.status_code == 412


def test_settings_write_is_needed_to_change_definitions(
    api: AdminApi,
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
) -> None:
    writer = make_token("customers:read", "customers:write")
    body = {"key": "loyalty", "label": "Loyalty", "type": "text"}
    assert client.post("/customers/fields", json=body, headers=writer).status_code == 403
    api.define("loyalty")
    assert client.get("/customers/fields/loyalty", headers=writer).status_code == 200
    assert client.delete("/customers/fields/loyalty", headers=writer).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Loyalty", "label": "L", "type": "text"}, "key"),
        ({"key": "loyalty", "label": "L", "type": "colour"}, "type"),
        ({"key": "loyalty", "label": "L", "type": "choice"}, "options"),
        ({"key": "loyalty", "label": "L", "type": "text", "options": ["a"]}, "options"),
        ({"key": "loyalty", "label": "L", "type": "choice", "options": ["a", "A"]}, "options"),
        ({"key": "loyalty", "label": "L", "type": "text", "kinds": []}, "kinds"),
        ({"key": "loyalty", "label": " ", "type": "text"}, "label"),
    ],
)
def test_a_bad_definition_is_a_422_naming_the_field(
    api: AdminApi,
    body: dict[str, Any],
    field: str,
) -> None:
    response = api.post("/customers/fields", body)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]


def test_a_key_taken_is_a_409_and_an_unknown_one_a_404(api: AdminApi) -> None:
    api.define("loyalty")
    body = {"key": "loyalty", "label": "Again", "type": "number"}
    assert api.post("/customers/fields", body).status_code == 409
    assert api.get("/customers/fields/nope").status_code == 404
    assert api.delete("/customers/fields/nope").status_code == 404


def test_a_type_change_values_cannot_take_is_a_409_that_counts_them(api: AdminApi) -> None:
    api.define("size")
    for index, value in enumerate(["12", "large", "thirteen"]):
        response = api.create(email=f"c{index}@example.com", custom_fields={"size": value})
        assert response.status_code == 201
    response = api.patch("/customers/fields/size", {"type": "number"})
    assert response.status_code == 409
    assert response.get_json()["message"].startswith("3 customers hold values")
    assert api.get("/customers/fields/size").get_json()["type"] == "text"


def test_options_removed_that_values_use_are_a_409(api: AdminApi) -> None:
    api.define("loyalty", "choice", options=["silver", "gold"])
    api.create(email="a@example.com", custom_fields={"loyalty": "gold"})
    api.create(email="b@example.com", custom_fields={"loyalty": "silver"})
    response = api.patch("/customers/fields/loyalty", {"options": ["gold", "platinum"]})
    assert response.status_code == 409
    assert response.get_json()["message"].startswith("1 customer holds a value")


def test_a_change_every_value_can_take_is_accepted(api: AdminApi) -> None:
    api.define("size", "choice", options=["small", "large"])
    api.create(custom_fields={"size": "large"})
    response = api.patch("/customers/fields/size", {"type": "text"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["options"] == []


def test_kinds_narrowed_under_values_are_a_409(api: AdminApi) -> None:
    api.define("hobby")
    api.create(custom_fields={"hobby": "chess"})
    response = api.patch("/customers/fields/hobby", {"kinds": ["company"]})
    assert response.status_code == 409


def test_removing_a_definition_removes_its_values_with_their_events(
    api: AdminApi,
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    api.define("loyalty")
    api.define("visits", "number")
    kept = api.create(email="a@example.com", custom_fields={"visits": 2}).get_json()
    losers = [
        api.create(
            email=f"{n}@example.com", custom_fields={"loyalty": "gold", "visits": n}
        ).get_json()
        for n in (3, 4)
    ]
    assert api.delete("/customers/fields/loyalty").status_code == 204
    for customer in losers:
        answer = api.get(f"/customers/{customer['id']}")
        assert answer.get_json()["custom_fields"] == {"visits": customer["custom_fields"]["visits"]}
        assert answer.headers["ETag"] != f'"{customer["id"]}-1"'
    assert api.get(f"/customers/{kept['id']}").headers["ETag"].endswith('-1"')
    events = [event["data"] for event in outbox("customer.updated")]
    assert sorted(event["customer_id"] for event in events) == sorted(c["id"] for c in losers)
    assert all(event["changed"] == ["custom_fields"] for event in events)
    assert api.get("/customers/fields/loyalty").status_code == 404
    refused = api.create(email="new@example.com", custom_fields={"loyalty": "gold"})
    assert refused.status_code == 422


def test_a_type_change_waits_for_a_transaction_writing_values_and_then_counts_them(
    api: AdminApi,
    app: Flask,
) -> None:
    api.define("size")
    answers: list[Any] = []
    with app.extensions["crm"].session_factory() as session:
        # A customer's values being written, as POST /customers and imports write them.
        customer = Customer(kind="individual", last_name="Racing")
        assert custom_field_errors(session, customer, {"size": "large"}, creating=True) == {}
        session.add(customer)
        session.flush()
        change = threading.Thread(
            target=lambda: answers.append(api.patch("/customers/fields/size", {"type": "number"}))
        )
        change.start()
        wait_until(lambda: _waiting_on_a_lock(app) == 1)
        session.commit()
    change.join(30)
    assert answers[0].status_code == 409, answers[0].get_json()


def _waiting_on_a_lock(app: Flask) -> int:
    # A connection of its own: a transaction sees one snapshot of pg_stat_activity.
    with app.extensions["crm"].engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()"
                )
            ).scalar_one()
        )
