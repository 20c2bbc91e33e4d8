"""Every profile endpoint needs a token (401) carrying its scope (403), and refuses unchanged."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

pytestmark = pytest.mark.needs_postgres

PNG_1X1 = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)

# (method, path, request options, scopes that are not enough, status once let through)
ENDPOINTS: list[tuple[str, str, dict[str, Any], tuple[str, ...], int]] = [
    (
        "POST",
        "/customers",
        {"json": {"kind": "company", "company_name": "X"}},
        ("customers:read",),
        201,
    ),
    ("GET", "/customers/{id}", {}, ("tags:write",), 200),
    ("PATCH", "/customers/{id}", {"json": {"notes": "x"}}, ("customers:read",), 200),
    ("DELETE", "/customers/{id}", {}, ("customers:read", "customers:write"), 204),
    (
        "POST",
        "/customers/{id}/avatar",
        {"data": {}, "content_type": "multipart/form-data"},
        ("customers:read",),
        200,
    ),
    # No avatar was uploaded: a 404, past the permission check all the same.
    ("GET", "/customers/{id}/avatar", {}, ("customers:write",), 404),
    (
        "POST",
        "/customers/{id}/merge",
        {"json": {"duplicate_id": "{other}"}},
        ("customers:read", "customers:write"),
        200,
    ),
]


def _request(
    client: FlaskClient,
    method: str,
    path: str,
    options: dict[str, Any],
    ids: dict[str, str],
    headers: dict[str, str],
) -> Any:
    options = dict(options)
    if "json" in options:
        options["json"] = {
            key: value.format(**ids) if isinstance(value, str) else value
            for key, value in options["json"].items()
        }
    if "data" in options:
        options["data"] = {"file": (io.BytesIO(PNG_1X1), "a.png")}
    return client.open(path.format(**ids), method=method, headers=headers, **options)


@pytest.fixture
def ids(new_customer: Callable[..., dict[str, Any]]) -> dict[str, str]:
    return {"id": new_customer()["id"], "other": new_customer(last_name="Autre")["id"]}


@pytest.mark.parametrize(("method", "path", "options", "scopes", "allowed"), ENDPOINTS)
def test_a_token_without_the_scope_is_a_403_and_changes_nothing(
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
    ids: dict[str, str],
    counts: Callable[[], dict[str, int]],
    method: str,
    path: str,
    options: dict[str, Any],
    scopes: tuple[str, ...],
    allowed: int,
) -> None:
    before = counts()

    response = _request(client, method, path, options, ids, make_token(*scopes))

    assert response.status_code == 403, response.get_json()
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "options", "scopes", "allowed"), ENDPOINTS)
def test_no_token_is_a_401(
    client: FlaskClient,
    ids: dict[str, str],
    counts: Callable[[], dict[str, int]],
    method: str,
    path: str,
    options: dict[str, Any],
    scopes: tuple[str, ...],
    allowed: int,
) -> None:
    before = counts()

    response = _request(client, method, path, options, ids, {})

    assert response.status_code == 401
    assert counts() == before


@pytest.mark.parametrize(("method", "path", "options", "scopes", "allowed"), ENDPOINTS)
def test_a_token_with_the_scope_is_let_through(
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
    ids: dict[str, str],
    method: str,
    path: str,
    options: dict[str, Any],
    scopes: tuple[str, ...],
    allowed: int,
) -> None:
    granted = make_token("customers:read", "customers:write", "customers:delete")

    response = _request(client, method, path, options, ids, granted)

    assert response.status_code == allowed, response.get_json()
