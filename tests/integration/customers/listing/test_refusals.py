"""`GET /customers` refuses bad parameters with a 422 naming them, and callers without the scope."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient


def refusal(client: FlaskClient, headers: dict[str, str], query: Any) -> dict[str, Any]:
    response = client.get("/customers", query_string=query, headers=headers)
    assert response.status_code == 422, response.get_json()
    return dict(response.get_json()["errors"]["query"])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"created_from": "yesterday"}, "created_from"),
        ({"created_to": "2024-02-30"}, "created_to"),
        ({"created_from": "2024-03-02", "created_to": "2024-03-01"}, "created_to"),
        ({"tags_match": "most"}, "tags_match"),
        ({"tag": "not-a-uuid"}, "tag"),
        ({"kind": "robot"}, "kind"),
        ({"gender": "x"}, "gender"),
        ({"is_supplier": "perhaps"}, "is_supplier"),
        ({"country": "France"}, "country"),
        ({"language": "french!"}, "language"),
        ({"city": "   "}, "city"),
        ({"status": ""}, "status"),
        ({"segment": "42"}, "segment"),
        ({"sort": "email"}, "sort"),
        ({"q": "x" * 201}, "q"),
        ({"colour": "red"}, "colour"),
        ({"tags": "misspelt"}, "tags"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(
    client: FlaskClient, reader: dict[str, str], query: dict[str, str], field: str
) -> None:
    assert field in refusal(client, reader, query)


def test_several_bad_parameters_are_named_together(
    client: FlaskClient, reader: dict[str, str]
) -> None:
    errors = refusal(client, reader, {"limit": "0", "kind": "robot", "unknown": "1"})

    assert {"limit", "kind", "unknown"} <= set(errors)


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "values",
    [
        ["-created_at", "not a date", str(uuid.uuid4())],
        ["-created_at", "2024-01-01T00:00:00", str(uuid.uuid4())],  # no offset
        ["-created_at", "2024-01-01T00:00:00+00:00", "not-an-id"],
        ["-created_at", 12, str(uuid.uuid4())],
        ["-created_at", "2024-01-01T00:00:00+00:00"],
        {"sort": "-created_at"},
    ],
)
def test_a_forged_cursor_is_a_422_on_cursor(
    client: FlaskClient, reader: dict[str, str], values: Any
) -> None:
    assert "cursor" in refusal(client, reader, {"cursor": _cursor(values)})


def test_a_cursor_of_another_sort_is_refused(
    client: FlaskClient, reader: dict[str, str], add_customer: Callable[..., uuid.UUID]
) -> None:
    for _ in range(3):
        add_customer(last_name="Doe")
    cursor = client.get("/customers?limit=1&sort=name", headers=reader).get_json()["next_cursor"]

    errors = refusal(client, reader, {"cursor": cursor})

    assert "sort=name" in errors["cursor"][0]


def test_an_unknown_segment_is_a_422_on_segment(
    client: FlaskClient, reader: dict[str, str]
) -> None:
    errors = refusal(client, reader, {"segment": str(uuid.uuid4())})

    assert "no saved filter" in errors["segment"][0]


def test_listing_without_a_token_is_401(client: FlaskClient) -> None:
    assert client.get("/customers").status_code == 401


def test_listing_without_the_read_scope_is_403(
    client: FlaskClient, make_token: Callable[..., dict[str, str]]
) -> None:
    response = client.get("/customers", headers=make_token("tags:write"))

    assert response.status_code == 403
    assert "customers:read" in response.get_json()["message"]
