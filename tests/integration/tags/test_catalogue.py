"""Creating, reading and listing tags on PostgreSQL; permissions; the fixed tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.tags.models import FIXED_TAGS
from shared.api import encode_cursor

pytestmark = pytest.mark.needs_postgres

FIXED_NAMES = ["VIP", "À recontacter", "Potentiel élevé", "Fournisseur"]


def test_creating_a_tag_answers_201_with_the_normalised_tag_and_its_etag(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    body = {"name": "  Nouveau  ", "description": " Client récent ", "color": "#AbC", "order": 7}

    response = client.post("/tags", json=body, headers=writer)

    assert response.status_code == 201
    tag = response.get_json()
    assert tag["name"] == "Nouveau"
    assert tag["description"] == "Client récent"
    assert tag["color"] == "#aabbcc"
    assert tag["order"] == 7
    assert tag["is_fixed"] is False
    assert tag["customers_count"] == 0
    assert tag["created_at"].endswith("+00:00")
    assert response.headers["ETag"] == f'"{tag["id"]}-1"'
    assert response.headers["Location"].endswith(f"/tags/{tag['id']}")


def test_creating_a_tag_writes_tag_created_with_its_full_state_to_the_outbox(
    client: FlaskClient, writer: dict[str, str], outbox: Callable[..., list[dict[str, Any]]]
) -> None:
    body = {"name": "Salon 2026", "description": "Rencontré au salon.", "color": "#00AA00"}

    tag = client.post("/tags", json=body, headers=writer).get_json()

    [event] = outbox("tag.created", subject=tag["id"])
    assert event["source"] == "tags"
    assert event["data"] == {
        "id": tag["id"],
        "name": "Salon 2026",
        "description": "Rencontré au salon.",
        "color": "#00aa00",
        "order": None,
        "is_fixed": False,
        "created_at": tag["created_at"],
        "updated_at": tag["updated_at"],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"description": "d", "color": "#123456"}, "name"),
        ({"name": "   ", "description": "d", "color": "#123456"}, "name"),
        ({"name": "x" * 65, "description": "d", "color": "#123456"}, "name"),
        ({"name": "a", "color": "#123456"}, "description"),
        ({"name": "a", "description": "d" * 1001, "color": "#123456"}, "description"),
        ({"name": "a", "description": "d"}, "color"),
        ({"name": "a", "description": "d", "color": "red"}, "color"),
        ({"name": "a", "description": "d", "color": "#12345g"}, "color"),
        ({"name": "a", "description": "d", "color": "#123456", "order": "1"}, "order"),
        ({"name": "a", "description": "d", "color": "#123456", "order": 1.5}, "order"),
        ({"name": "a", "description": "d", "color": "#123456", "size": 3}, "size"),
        ({"name": "a", "description": "d", "color": "#123456", "is_fixed": True}, "is_fixed"),
    ],
)
def test_invalid_tags_are_refused_with_a_422_naming_the_field(
    client: FlaskClient, writer: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.post("/tags", json=body, headers=writer)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]


def test_a_name_taken_in_another_case_is_409_naming_the_existing_tag(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    existing = new_tag(name="Grossiste")

    response = client.post(
        "/tags", json={"name": "GROSSISTE", "description": "d", "color": "#000000"}, headers=writer
    )

    assert response.status_code == 409
    message = response.get_json()["message"]
    assert "Grossiste" in message and existing["id"] in message


def test_a_fixed_tag_name_cannot_be_taken_again(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    response = client.post(
        "/tags", json={"name": "vip", "description": "d", "color": "#000000"}, headers=writer
    )

    assert response.status_code == 409
    assert "VIP" in response.get_json()["message"]


def test_the_fixed_tags_exist_in_their_order_and_are_fixed(
    client: FlaskClient, reader: dict[str, str]
) -> None:
    items = client.get("/tags", headers=reader).get_json()["items"]

    assert [tag["name"] for tag in items[:4]] == FIXED_NAMES
    assert [tag["order"] for tag in items[:4]] == [1, 2, 3, 4]
    assert all(tag["is_fixed"] for tag in items[:4])
    assert {tag["id"] for tag in items[:4]} == {str(fixed.id) for fixed in FIXED_TAGS}


def test_reading_a_tag_answers_it_with_its_etag(
    client: FlaskClient, reader: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    tag = new_tag()

    response = client.get(f"/tags/{tag['id']}", headers=reader)

    assert response.status_code == 200
    assert response.get_json() == tag
    assert response.headers["ETag"] == f'"{tag["id"]}-1"'


def test_reading_an_unknown_tag_is_404(client: FlaskClient, reader: dict[str, str]) -> None:
    response = client.get("/tags/00000000-0000-4000-8000-000000000000", headers=reader)

    assert response.status_code == 404
    assert "message" in response.get_json()


def test_the_list_sorts_by_order_with_unordered_tags_last_then_by_name_ignoring_case(
    client: FlaskClient, reader: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    for name, order in [("beta", None), ("Alpha", None), ("zeta", 0), ("Gamma", 10), ("delta", 10)]:
        new_tag(name=name, order=order)

    items = client.get("/tags", headers=reader).get_json()["items"]

    names = [tag["name"] for tag in items]
    assert names == ["zeta", *FIXED_NAMES, "delta", "Gamma", "Alpha", "beta"]


def test_the_list_is_paged_with_a_cursor_until_next_cursor_is_null(
    client: FlaskClient, reader: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    for index in range(7):
        new_tag(name=f"page-{index}", order=index % 3 or None)
    expected = [tag["id"] for tag in client.get("/tags", headers=reader).get_json()["items"]]

    seen: list[str] = []
    cursor = None
    for _ in range(10):
        query: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/tags", query_string=query, headers=reader).get_json()
        seen += [tag["id"] for tag in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == expected
    assert len(seen) == 11


def test_q_finds_tags_whose_name_contains_it_in_any_case(
    client: FlaskClient, reader: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    new_tag(name="Client fidèle")
    new_tag(name="Fidélité 100%")
    new_tag(name="Autre")

    found = client.get("/tags", query_string={"q": "FID"}, headers=reader).get_json()["items"]
    percent = client.get("/tags", query_string={"q": "%"}, headers=reader).get_json()["items"]

    assert sorted(tag["name"] for tag in found) == ["Client fidèle", "Fidélité 100%"]
    assert [tag["name"] for tag in percent] == ["Fidélité 100%"]


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        encode_cursor([1, "two"]),
        encode_cursor(["1", "key", str(FIXED_TAGS[0].id)]),
        encode_cursor([True, "key", str(FIXED_TAGS[0].id)]),
        encode_cursor([1, 2, str(FIXED_TAGS[0].id)]),
        encode_cursor([1, "key", "not-a-uuid"]),
    ],
)
def test_a_cursor_that_is_not_ours_is_422(
    client: FlaskClient, reader: dict[str, str], cursor: str
) -> None:
    response = client.get("/tags", query_string={"cursor": cursor}, headers=reader)

    assert response.status_code == 422
    assert "cursor" in response.get_json()["errors"]["query"]


def test_a_limit_out_of_range_is_422(client: FlaskClient, reader: dict[str, str]) -> None:
    response = client.get("/tags", query_string={"limit": 501}, headers=reader)

    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/tags"), ("get", "/tags/00000000-0000-4000-8000-000000000000")],
)
def test_reading_needs_a_token_with_customers_read(
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
    method: str,
    path: str,
) -> None:
    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, headers=make_token("tags:write")).status_code == 403


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/tags", {"name": "x", "description": "d", "color": "#000000"}),
        ("patch", f"/tags/{FIXED_TAGS[0].id}", {"color": "#000000"}),
        ("delete", f"/tags/{FIXED_TAGS[0].id}", None),
        ("post", f"/tags/{FIXED_TAGS[1].id}/merge", {"into": str(FIXED_TAGS[0].id)}),
        ("post", "/tags/ensure", {"names": ["x"]}),
    ],
)
def test_writing_needs_a_token_with_tags_write(
    client: FlaskClient,
    reader: dict[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    assert getattr(client, method)(path, json=body).status_code == 401
    assert getattr(client, method)(path, json=body, headers=reader).status_code == 403


def test_the_openapi_document_lists_every_endpoint_with_its_scopes(client: FlaskClient) -> None:
    document = client.get("/tags/openapi.json").get_json()

    paths = document["paths"]
    assert set(paths) >= {"/tags", "/tags/ensure", "/tags/{tag_id}", "/tags/{tag_id}/merge"}
    assert paths["/tags"]["get"]["security"] == [{"bearerAuth": ["customers:read"]}]
    assert paths["/tags/{tag_id}"]["delete"]["security"] == [{"bearerAuth": ["tags:write"]}]
