"""Saved filters (`/customers/segments`): CRUD, ETags, refusals, and `?segment=` on the list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

AddCustomer = Callable[..., uuid.UUID]


@pytest.fixture
def new_segment(client: FlaskClient, writer: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Saves a filter through the API; the answer's body (201 expected)."""

    def _create(name: str, filter: dict[str, Any]) -> dict[str, Any]:
        response = client.post(
            "/customers/segments", json={"name": name, "filter": filter}, headers=writer
        )
        assert response.status_code == 201, response.get_json()
        assert response.headers["ETag"]
        return dict(response.get_json())

    return _create


def test_a_saved_filter_is_answered_normalised_and_read_back_with_its_etag(
    client: FlaskClient,
    reader: dict[str, str],
    new_segment: Callable[..., dict[str, Any]],
    add_tag: Callable[..., uuid.UUID],
) -> None:
    tag = str(add_tag("Paris VIP"))
    created = new_segment(
        "  VIP in Paris ",
        {
            "status": "vip",
            "city": " Paris ",
            "tag": tag,
            "country": "fr",
            "created_from": "2024-01-01",
        },
    )

    assert created["name"] == "VIP in Paris"
    assert created["filter"] == {
        "tag": [tag],
        "status": "vip",
        "city": "Paris",
        "country": "FR",
        "created_from": "2024-01-01",
    }
    response = client.get(f"/customers/segments/{created['id']}", headers=reader)
    assert response.status_code == 200
    assert response.get_json() == created
    assert response.headers["ETag"] == f'"{created["id"]}-1"'


def test_segment_applies_its_filter_to_the_list(
    add_customer: AddCustomer,
    list_ids: Callable[..., list[str]],
    new_segment: Callable[..., dict[str, Any]],
) -> None:
    vip_paris = add_customer(status="vip", address_city="Paris")
    add_customer(status="vip", address_city="Lyon")
    add_customer(status="lead", address_city="Paris")
    segment = new_segment("VIP in Paris", {"status": "vip", "city": "paris"})

    assert list_ids(segment=segment["id"]) == [str(vip_paris)]


def test_segment_and_other_parameters_both_apply(
    add_customer: AddCustomer,
    add_tag: Callable[..., uuid.UUID],
    list_ids: Callable[..., list[str]],
    new_segment: Callable[..., dict[str, Any]],
) -> None:
    red, blue = add_tag("red"), add_tag("blue")
    wanted = add_customer(status="vip", tags=(red, blue), kind="company", company_name="Acme")
    add_customer(status="vip", tags=(red,), kind="company", company_name="Acme Two")
    add_customer(status="vip", tags=(red, blue), kind="individual", last_name="Acme")
    add_customer(status="lead", tags=(red, blue), kind="company", company_name="Acme Three")
    segment = new_segment("all colours", {"tag": [str(red), str(blue)], "tags_match": "all"})

    found = list_ids(segment=segment["id"], status="vip", kind="company", tag=str(red), q="acme")

    assert found == [str(wanted)]
    assert list_ids(segment=segment["id"], city="Nowhere") == []


def test_segments_are_listed_by_name_whatever_the_case_in_pages(
    client: FlaskClient, reader: dict[str, str], new_segment: Callable[..., dict[str, Any]]
) -> None:
    for name in ("beta", "Alpha", "gamma", "Delta", "epsilon"):
        new_segment(name, {})
    names: list[str] = []
    cursor = None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = client.get("/customers/segments", query_string=query, headers=reader).get_json()
        names += [item["name"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert names == ["Alpha", "beta", "Delta", "epsilon", "gamma"]


def test_a_name_taken_whatever_the_case_is_a_409(
    client: FlaskClient,
    writer: dict[str, str],
    new_segment: Callable[..., dict[str, Any]],
    database_state: Callable[[], tuple[int, int, int]],
) -> None:
    new_segment("Newsletter readers", {"newsletter_list": "weekly"})
    before = database_state()

    response = client.post(
        "/customers/segments", json={"name": "NEWSLETTER readers ", "filter": {}}, headers=writer
    )

    assert response.status_code == 409
    assert "name" in response.get_json()["errors"]["json"]
    assert database_state() == before


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "x", "filter": {"city": ""}}, ("filter", "city")),
        ({"name": "x", "filter": {"colour": "red"}}, ("filter", "colour")),
        ({"name": "x", "filter": {"tags_match": "most"}}, ("filter", "tags_match")),
        ({"name": "x", "filter": {"created_from": "soon"}}, ("filter", "created_from")),
        ({"name": "x", "filter": {"tag": ["nope"]}}, ("filter", "tag")),
        ({"name": "x", "filter": {"segment": str(uuid.uuid4())}}, ("filter", "segment")),
        ({"name": "x", "filter": {"limit": 10}}, ("filter", "limit")),
        ({"name": "x", "filter": "status=vip"}, ("filter",)),
        ({"name": "x"}, ("filter",)),
        ({"name": "  ", "filter": {}}, ("name",)),
        ({"name": "n" * 101, "filter": {}}, ("name",)),
        ({"filter": {}}, ("name",)),
        ({"name": "x", "filter": {}, "id": str(uuid.uuid4())}, ("id",)),
    ],
)
def test_a_bad_segment_is_a_422_naming_the_field_and_saves_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    database_state: Callable[[], tuple[int, int, int]],
    body: dict[str, Any],
    path: tuple[str, ...],
) -> None:
    before = database_state()

    response = client.post("/customers/segments", json=body, headers=writer)

    assert response.status_code == 422, response.get_json()
    errors = response.get_json()["errors"]["json"]
    for key in path:
        assert key in errors, errors
        errors = errors[key]
    assert database_state() == before


def test_patch_renames_and_replaces_the_filter_and_changes_the_etag(
    client: FlaskClient, writer: dict[str, str], new_segment: Callable[..., dict[str, Any]]
) -> None:
    segment = new_segment("Old", {"status": "vip", "city": "Paris"})

    response = client.patch(
        f"/customers/segments/{segment['id']}",
        json={"name": "New", "filter": {"kind": "company"}},
        headers={**writer, "If-Match": f'"{segment["id"]}-1"'},
    )

    assert response.status_code == 200
    assert response.get_json()["name"] == "New"
    assert response.get_json()["filter"] == {"kind": "company"}
    assert response.headers["ETag"] == f'"{segment["id"]}-2"'


def test_patch_with_a_stale_etag_is_412_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    reader: dict[str, str],
    new_segment: Callable[..., dict[str, Any]],
) -> None:
    segment = new_segment("Stable", {"status": "vip"})
    url = f"/customers/segments/{segment['id']}"
    client.patch(url, json={"name": "Stable 2"}, headers=writer)

    response = client.patch(
        url, json={"name": "Stale"}, headers={**writer, "If-Match": f'"{segment["id"]}-1"'}
    )

    assert response.status_code == 412
    assert client.get(url, headers=reader).get_json()["name"] == "Stable 2"


def test_patch_to_a_taken_name_is_409_but_a_new_case_of_its_own_name_is_fine(
    client: FlaskClient, writer: dict[str, str], new_segment: Callable[..., dict[str, Any]]
) -> None:
    new_segment("Taken", {})
    mine = new_segment("Mine", {})
    url = f"/customers/segments/{mine['id']}"

    assert client.patch(url, json={"name": "TAKEN"}, headers=writer).status_code == 409
    assert client.get(url, headers=writer).headers["ETag"] == f'"{mine["id"]}-1"'
    response = client.patch(url, json={"name": "MINE"}, headers=writer)
    assert response.status_code == 200
    assert response.get_json()["name"] == "MINE"


def test_patch_with_a_bad_filter_is_422_on_the_filter_field(
    client: FlaskClient, writer: dict[str, str], new_segment: Callable[..., dict[str, Any]]
) -> None:
    segment = new_segment("Bad patch", {"status": "vip"})

    response = client.patch(
        f"/customers/segments/{segment['id']}",
        json={"filter": {"is_supplier": "perhaps"}},
        headers=writer,
    )

    assert response.status_code == 422
    assert "is_supplier" in response.get_json()["errors"]["json"]["filter"]


def test_a_deleted_segment_is_gone_and_the_list_refuses_it(
    client: FlaskClient,
    writer: dict[str, str],
    reader: dict[str, str],
    new_segment: Callable[..., dict[str, Any]],
) -> None:
    segment = new_segment("Doomed", {})
    url = f"/customers/segments/{segment['id']}"

    stale = client.delete(url, headers={**writer, "If-Match": '"stale"'})
    assert stale.status_code == 412
    assert client.delete(url, headers=writer).status_code == 204

    assert client.get(url, headers=reader).status_code == 404
    assert client.delete(url, headers=writer).status_code == 404
    listed = client.get("/customers", query_string={"segment": segment["id"]}, headers=reader)
    assert listed.status_code == 422
    assert "segment" in listed.get_json()["errors"]["query"]


def test_an_unknown_segment_is_404(
    client: FlaskClient, reader: dict[str, str], writer: dict[str, str]
) -> None:
    url = f"/customers/segments/{uuid.uuid4()}"

    assert client.get(url, headers=reader).status_code == 404
    assert client.patch(url, json={"name": "x"}, headers=writer).status_code == 404


def test_reading_segments_needs_the_read_scope_and_writing_the_write_scope(
    client: FlaskClient,
    reader: dict[str, str],
    make_token: Callable[..., dict[str, str]],
    new_segment: Callable[..., dict[str, Any]],
    database_state: Callable[[], tuple[int, int, int]],
) -> None:
    segment = new_segment("Protected", {})
    url = f"/customers/segments/{segment['id']}"
    nobody = make_token("tags:write")
    before = database_state()

    assert client.get("/customers/segments").status_code == 401
    assert client.get("/customers/segments", headers=nobody).status_code == 403
    assert client.get(url, headers=nobody).status_code == 403
    post = client.post("/customers/segments", json={"name": "y", "filter": {}}, headers=reader)
    assert post.status_code == 403
    assert client.patch(url, json={"name": "z"}, headers=reader).status_code == 403
    assert client.delete(url, headers=reader).status_code == 403
    assert database_state() == before
