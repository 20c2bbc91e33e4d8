"""The status catalogue: defaults, custom statuses, labels, deletion rules and refusals."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.customers.tagging.conftest import Snapshot

pytestmark = pytest.mark.needs_postgres


def test_the_defaults_are_listed_by_position(client: FlaskClient, reader: dict[str, str]) -> None:
    response = client.get("/customers/statuses", headers=reader)

    assert response.status_code == 200
    body = response.get_json()
    assert [item["key"] for item in body["items"]] == [
        "lead",
        "prospect",
        "active",
        "vip",
        "inactive",
    ]
    assert all(item["is_default"] for item in body["items"])
    assert body["items"][2]["label"] == "Active customer"
    assert body["next_cursor"] is None


def test_statuses_are_paged_with_a_cursor(client: FlaskClient, reader: dict[str, str]) -> None:
    first = client.get("/customers/statuses?limit=2", headers=reader).get_json()
    second = client.get(
        f"/customers/statuses?limit=2&cursor={first['next_cursor']}", headers=reader
    ).get_json()
    third = client.get(
        f"/customers/statuses?limit=2&cursor={second['next_cursor']}", headers=reader
    ).get_json()

    keys = [item["key"] for page in (first, second, third) for item in page["items"]]
    assert keys == ["lead", "prospect", "active", "vip", "inactive"]
    assert third["next_cursor"] is None


def test_a_custom_status_is_added_last_and_can_be_read(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    response = client.post(
        "/customers/statuses", json={"key": "partner", "label": "  Partner "}, headers=writer
    )

    assert response.status_code == 201
    assert response.get_json() == {
        "key": "partner",
        "label": "Partner",
        "is_default": False,
        "position": 6,
    }
    assert response.headers["Location"].endswith("/customers/statuses/partner")
    read = client.get("/customers/statuses/partner", headers=writer)
    assert read.get_json()["label"] == "Partner"
    assert read.headers["ETag"] == response.headers["ETag"]


def test_a_custom_status_can_be_used_by_a_bulk_status_change(
    client: FlaskClient, writer: dict[str, str], add_customer: Callable[..., uuid.UUID]
) -> None:
    customer = add_customer()
    client.post("/customers/statuses", json={"key": "partner", "label": "P"}, headers=writer)

    response = client.post(
        "/customers/bulk",
        json={"action": "set_status", "ids": [str(customer)], "status": "partner"},
        headers=writer,
    )

    assert response.get_json() == {"matched": 1, "changed": 1}


def test_an_existing_key_is_409(
    client: FlaskClient, writer: dict[str, str], snapshot: Callable[[], Snapshot]
) -> None:
    before = snapshot()

    response = client.post(
        "/customers/statuses", json={"key": "vip", "label": "Other"}, headers=writer
    )

    assert response.status_code == 409
    assert snapshot() == before


def test_the_label_of_any_status_can_change(client: FlaskClient, writer: dict[str, str]) -> None:
    etag = client.get("/customers/statuses/vip", headers=writer).headers["ETag"]

    response = client.patch(
        "/customers/statuses/vip",
        json={"label": "Very important"},
        headers={**writer, "If-Match": etag},
    )

    assert response.status_code == 200
    assert response.get_json()["label"] == "Very important"
    assert response.headers["ETag"] != etag


def test_a_stale_if_match_on_a_status_is_412(
    client: FlaskClient, writer: dict[str, str], snapshot: Callable[[], Snapshot]
) -> None:
    etag = client.get("/customers/statuses/vip", headers=writer).headers["ETag"]
    client.patch("/customers/statuses/vip", json={"label": "Changed"}, headers=writer)
    before = snapshot()

    response = client.patch(
        "/customers/statuses/vip", json={"label": "Lost"}, headers={**writer, "If-Match": etag}
    )

    assert response.status_code == 412
    assert snapshot() == before


def test_an_unused_custom_status_can_be_deleted(
    client: FlaskClient, writer: dict[str, str], deleter: dict[str, str]
) -> None:
    client.post("/customers/statuses", json={"key": "partner", "label": "P"}, headers=writer)

    response = client.delete("/customers/statuses/partner", headers=deleter)

    assert response.status_code == 204
    assert client.get("/customers/statuses/partner", headers=writer).status_code == 404


def test_a_default_status_cannot_be_deleted(
    client: FlaskClient, deleter: dict[str, str], snapshot: Callable[[], Snapshot]
) -> None:
    before = snapshot()

    response = client.delete("/customers/statuses/inactive", headers=deleter)

    assert response.status_code == 409
    assert "default" in response.get_json()["message"]
    assert snapshot() == before


def test_a_status_in_use_cannot_be_deleted(
    client: FlaskClient,
    writer: dict[str, str],
    deleter: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    client.post("/customers/statuses", json={"key": "partner", "label": "P"}, headers=writer)
    add_customer(status="partner")
    before = snapshot()

    response = client.delete("/customers/statuses/partner", headers=deleter)

    assert response.status_code == 409
    assert "customers are in the status" in response.get_json()["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/customers/statuses/nope"), ("patch", "/customers/statuses/nope")],
)
def test_an_unknown_status_is_404(
    client: FlaskClient, writer: dict[str, str], method: str, path: str
) -> None:
    response = getattr(client, method)(path, json={"label": "x"}, headers=writer)

    assert response.status_code == 404


def test_deleting_an_unknown_status_is_404(client: FlaskClient, deleter: dict[str, str]) -> None:
    assert client.delete("/customers/statuses/nope", headers=deleter).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"label": "No key"}, "key"),
        ({"key": "Partner", "label": "Upper case"}, "key"),
        ({"key": "1st", "label": "Digit first"}, "key"),
        ({"key": "a" * 33, "label": "Too long"}, "key"),
        ({"key": "partner"}, "label"),
        ({"key": "partner", "label": "   "}, "label"),
        ({"key": "partner", "label": "x" * 101}, "label"),
        ({"key": "partner", "label": "P", "is_default": True}, "is_default"),
        ({"key": "partner", "label": "P", "position": "first"}, "position"),
    ],
)
def test_a_bad_status_is_422_on_its_field(
    client: FlaskClient,
    writer: dict[str, str],
    snapshot: Callable[[], Snapshot],
    body: dict[str, Any],
    field: str,
) -> None:
    before = snapshot()

    response = client.post("/customers/statuses", json=body, headers=writer)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_a_bad_cursor_is_422(client: FlaskClient, reader: dict[str, str]) -> None:
    response = client.get("/customers/statuses?cursor=garbage", headers=reader)

    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]["query"]


def test_statuses_need_their_scopes(
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
    reader: dict[str, str],
    writer: dict[str, str],
) -> None:
    body = {"key": "partner", "label": "P"}

    assert client.get("/customers/statuses", headers=make_token("tags:write")).status_code == 403
    assert client.get("/customers/statuses").status_code == 401
    assert client.post("/customers/statuses", json=body, headers=reader).status_code == 403
    assert (
        client.patch("/customers/statuses/vip", json={"label": "x"}, headers=reader).status_code
        == 403
    )
    assert client.delete("/customers/statuses/vip", headers=writer).status_code == 403
