"""Editing and deleting tags on PostgreSQL: events, fixed tags, ETag and If-Match."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.tags.models import FIXED_TAGS

pytestmark = pytest.mark.needs_postgres

VIP = str(FIXED_TAGS[0].id)


def test_editing_a_tag_changes_it_bumps_its_etag_and_writes_tag_updated(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag(name="Ancien nom", order=3)

    response = client.patch(
        f"/tags/{tag['id']}",
        json={"name": " Nouveau nom ", "color": "#FFF", "order": None},
        headers=writer,
    )

    assert response.status_code == 200
    edited = response.get_json()
    assert (edited["name"], edited["color"], edited["order"]) == ("Nouveau nom", "#ffffff", None)
    assert edited["description"] == tag["description"]
    assert edited["updated_at"] > tag["updated_at"]
    assert response.headers["ETag"] == f'"{tag["id"]}-2"'
    [event] = outbox("tag.updated", subject=tag["id"])
    assert event["data"] == {
        key: edited[key]
        for key in ("id", "name", "description", "color", "order", "is_fixed")
        + ("created_at", "updated_at")
    }


def test_an_edit_that_changes_nothing_keeps_the_etag_and_writes_no_event(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag(color="#aabbcc")

    response = client.patch(f"/tags/{tag['id']}", json={"color": "#ABC"}, headers=writer)

    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{tag["id"]}-1"'
    assert outbox("tag.updated", subject=tag["id"]) == []


def test_renaming_to_a_name_taken_in_another_case_is_409(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    taken = new_tag(name="Premium")
    tag = new_tag(name="Standard")

    response = client.patch(f"/tags/{tag['id']}", json={"name": "premium"}, headers=writer)

    assert response.status_code == 409
    assert taken["id"] in response.get_json()["message"]


def test_a_tag_can_change_the_case_of_its_own_name(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    tag = new_tag(name="premium")

    response = client.patch(f"/tags/{tag['id']}", json={"name": "Premium"}, headers=writer)

    assert response.status_code == 200
    assert response.get_json()["name"] == "Premium"


def test_a_fixed_tag_can_be_recoloured_and_described(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    response = client.patch(
        f"/tags/{VIP}",
        json={"color": "#FF0000", "description": "Nos meilleurs clients."},
        headers=writer,
    )

    assert response.status_code == 200
    vip = response.get_json()
    assert (vip["color"], vip["description"], vip["is_fixed"]) == (
        "#ff0000",
        "Nos meilleurs clients.",
        True,
    )


def test_renaming_a_fixed_tag_is_409_and_says_why(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    response = client.patch(f"/tags/{VIP}", json={"name": "Très important"}, headers=writer)

    assert response.status_code == 409
    assert "fixed" in response.get_json()["message"]


@pytest.mark.parametrize(
    "body",
    [{"is_fixed": False}, {"customers_count": 3}, {"id": VIP}, {"color": "blue"}, {"name": ""}],
)
def test_an_invalid_or_read_only_edit_is_422(
    client: FlaskClient, writer: dict[str, str], body: dict[str, Any]
) -> None:
    response = client.patch(f"/tags/{VIP}", json=body, headers=writer)

    assert response.status_code == 422
    assert set(body) <= set(response.get_json()["errors"]["json"])


def test_editing_an_unknown_tag_is_404(client: FlaskClient, writer: dict[str, str]) -> None:
    response = client.patch(
        "/tags/00000000-0000-4000-8000-000000000000", json={"order": 1}, headers=writer
    )

    assert response.status_code == 404


def test_an_edit_with_the_current_etag_is_applied(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    tag = new_tag()
    etag = client.get(f"/tags/{tag['id']}", headers=writer).headers["ETag"]

    response = client.patch(
        f"/tags/{tag['id']}", json={"order": 5}, headers={**writer, "If-Match": etag}
    )

    assert response.status_code == 200
    assert response.get_json()["order"] == 5


def test_an_edit_with_a_stale_etag_is_412_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    tag = new_tag(order=1)
    stale = client.get(f"/tags/{tag['id']}", headers=writer).headers["ETag"]
    client.patch(f"/tags/{tag['id']}", json={"order": 2}, headers=writer)

    response = client.patch(
        f"/tags/{tag['id']}", json={"order": 3}, headers={**writer, "If-Match": stale}
    )

    assert response.status_code == 412
    assert response.headers["ETag"] == f'"{tag["id"]}-2"'
    assert client.get(f"/tags/{tag['id']}", headers=writer).get_json()["order"] == 2


def test_deleting_a_tag_answers_204_and_writes_tag_deleted(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag(name="Éphémère")

    response = client.delete(f"/tags/{tag['id']}", headers=writer)

    assert response.status_code == 204
    assert client.get(f"/tags/{tag['id']}", headers=writer).status_code == 404
    [event] = outbox("tag.deleted", subject=tag["id"])
    assert event["data"] == {"id": tag["id"], "name": "Éphémère"}


def test_deleting_a_fixed_tag_is_409_and_says_why(
    client: FlaskClient, writer: dict[str, str], outbox: Callable[..., list[dict[str, Any]]]
) -> None:
    response = client.delete(f"/tags/{VIP}", headers=writer)

    assert response.status_code == 409
    message = response.get_json()["message"]
    assert "VIP" in message and "fixed" in message and "cannot be deleted" in message
    assert client.get(f"/tags/{VIP}", headers=writer).status_code == 200
    assert outbox("tag.deleted") == []


def test_deleting_with_a_stale_etag_is_412_and_keeps_the_tag(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    tag = new_tag()
    stale = f'"{tag["id"]}-1"'
    client.patch(f"/tags/{tag['id']}", json={"order": 9}, headers=writer)

    response = client.delete(f"/tags/{tag['id']}", headers={**writer, "If-Match": stale})

    assert response.status_code == 412
    assert client.get(f"/tags/{tag['id']}", headers=writer).status_code == 200


def test_deleting_with_the_current_etag_deletes(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    tag = new_tag()

    response = client.delete(
        f"/tags/{tag['id']}", headers={**writer, "If-Match": f'"{tag["id"]}-1"'}
    )

    assert response.status_code == 204


def test_deleting_an_unknown_tag_is_404(client: FlaskClient, writer: dict[str, str]) -> None:
    response = client.delete("/tags/00000000-0000-4000-8000-000000000000", headers=writer)

    assert response.status_code == 404
