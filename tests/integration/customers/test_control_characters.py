"""NUL and other control characters in any customers field, query or path parameter: a 422 naming
it, never a 500, on PostgreSQL (which cannot store NUL) and on SQLite (which would store it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.customers.models import Customer
from shared.text import MULTILINE_MESSAGE, SINGLE_LINE_MESSAGE
from tests.control_characters import BACKENDS, client_on, refused

NEW = {"kind": "individual", "first_name": "Jeanne", "last_name": "Martin"}
ONE_LINE = [SINGLE_LINE_MESSAGE]


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlaskClient]:
    """The customers API on PostgreSQL, then on a migrated SQLite file."""
    yield from client_on(request, "customers", tmp_path)


def customer_count(client: FlaskClient) -> int:
    with client.application.extensions["crm"].session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(Customer)) or 0)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"first_name": "Jo\x00"}, {"first_name": ONE_LINE}),
        ({"last_name": "Mar\ud800tin"}, {"last_name": ONE_LINE}),
        ({"email": "jo\x00@example.com"}, {"email": ONE_LINE}),
        ({"address": {"city": "Par\x00is"}}, {"address": {"city": ONE_LINE}}),
        ({"phones": [{"number": "0612345678\x00"}]}, {"phones": {"0": {"number": ONE_LINE}}}),
        ({"newsletter_lists": ["weekly", "da\x1bily"]}, {"newsletter_lists": {"1": ONE_LINE}}),
        (
            {"billing": {"address": {"street": "1\x85 rue"}}},
            {"billing": {"address": {"street": ONE_LINE}}},
        ),
        (
            {"shipping_addresses": [{"city": "\x7f"}]},
            {"shipping_addresses": {"0": {"city": ONE_LINE}}},
        ),
        ({"source": {"utm_source": "ads\x00"}}, {"source": {"utm_source": ONE_LINE}}),
        ({"notes": "first line\nsecond\x00"}, {"notes": [MULTILINE_MESSAGE]}),
        ({"status": "lead\x00"}, {"status": ONE_LINE}),
        ({"birth_date": "1990-01-01\x00"}, {"birth_date": ONE_LINE}),
    ],
)
def test_a_control_character_in_a_new_customer_is_a_422_naming_the_field(
    client: FlaskClient, writer: dict[str, str], changes: dict[str, Any], errors: dict[str, Any]
) -> None:
    response = client.post("/customers", json={**NEW, **changes}, headers=writer)

    assert refused(response, "json") == errors
    assert customer_count(client) == 0


def test_notes_keep_their_line_breaks_and_tabs(client: FlaskClient, writer: dict[str, str]) -> None:
    notes = "Called on Monday\r\n\tcall back Friday"

    response = client.post("/customers", json={**NEW, "notes": notes}, headers=writer)

    assert response.status_code == 201, response.get_json()
    assert client.get(f"/customers/{response.json['id']}", headers=writer).json["notes"] == notes


def test_a_control_character_in_an_edit_is_a_422_and_changes_nothing(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    customer = client.post("/customers", json=NEW, headers=writer).json

    response = client.patch(
        f"/customers/{customer['id']}", json={"first_name": "Jo\x00"}, headers=writer
    )

    assert refused(response, "json") == {"first_name": ONE_LINE}
    assert client.get(f"/customers/{customer['id']}", headers=writer).json == customer


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("q=%00", "q"),
        ("q=jean%01", "q"),
        ("city=Par%00is", "city"),
        ("status=%7F", "status"),
        ("newsletter_list=%C2%9F", "newsletter_list"),
        ("utm_source=%00", "utm_source"),
        ("country=F%00", "country"),
        ("language=fr%00", "language"),
        ("created_from=2024-01-01%00", "created_from"),
        ("cursor=%00", "cursor"),
        ("sort=name%00", "sort"),
    ],
)
def test_a_control_character_in_a_list_parameter_is_a_422_naming_it(
    client: FlaskClient, reader: dict[str, str], query: str, field: str
) -> None:
    response = client.get(f"/customers?{query}", headers=reader)

    assert refused(response, "query") == {field: ONE_LINE}


def test_a_control_character_in_a_repeated_parameter_names_its_position(
    client: FlaskClient, reader: dict[str, str]
) -> None:
    tag = "0b6f5a8e-8a43-4c8e-9d3a-4a4b7c1f2e3d"

    response = client.get(f"/customers?tag={tag}&tag=%00", headers=reader)

    assert refused(response, "query") == {"tag": {"1": ONE_LINE}}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"name": "VIP\x00", "filter": {}}, {"name": ONE_LINE}),
        ({"name": "VIP", "filter": {"city": "Paris\x00"}}, {"filter": {"city": ONE_LINE}}),
        ({"name": "VIP", "filter": {"q": "\x00"}}, {"filter": {"q": ONE_LINE}}),
    ],
)
def test_a_control_character_in_a_saved_filter_is_a_422_naming_it(
    client: FlaskClient, writer: dict[str, str], body: dict[str, Any], errors: dict[str, Any]
) -> None:
    response = client.post("/customers/segments", json=body, headers=writer)

    assert refused(response, "json") == errors
    assert client.get("/customers/segments", headers=writer).json["items"] == []


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"action": "set_status", "filter": {"city": "\x00"}, "status": "vip"},
            {"filter": {"city": {"value": ONE_LINE}}},
        ),
        (
            {"action": "set_status", "filter": {"ci\x00ty": "Paris"}, "status": "vip"},
            {"filter": {"ci\x00ty": {"key": ONE_LINE}}},
        ),
        ({"action": "set_status", "filter": {}, "status": "vip\x00"}, {"status": ONE_LINE}),
    ],
)
def test_a_control_character_in_a_bulk_action_is_a_422_naming_it(
    client: FlaskClient, writer: dict[str, str], body: dict[str, Any], errors: dict[str, Any]
) -> None:
    response = client.post("/customers/bulk", json=body, headers=writer)

    assert refused(response, "json") == errors


def test_a_control_character_in_a_status_or_a_tag_name_is_a_422(
    client: FlaskClient, writer: dict[str, str]
) -> None:
    customer = client.post("/customers", json=NEW, headers=writer).json

    status = client.post(
        "/customers/statuses", json={"key": "partner", "label": "Part\x00ner"}, headers=writer
    )
    tag = client.post(f"/customers/{customer['id']}/tags", json={"name": "\x00"}, headers=writer)

    assert refused(status, "json") == {"label": ONE_LINE}
    assert refused(tag, "json") == {"name": ONE_LINE}


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_control_character_in_a_path_parameter_is_a_422_naming_it(
    client: FlaskClient, make_token: Any, method: str
) -> None:
    headers = make_token("customers:read", "customers:write", "customers:delete")

    response = getattr(client, method)("/customers/statuses/vip%00", json={}, headers=headers)

    assert refused(response, "path") == {"key": ONE_LINE}
