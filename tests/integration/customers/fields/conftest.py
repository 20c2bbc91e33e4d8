"""Fixtures of the custom fields tests: the app on PostgreSQL, an admin and the API as the admin
calls it (`api`: requests with the admin's headers, defining a field, creating a customer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def admin(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may define custom fields and write customers."""
    return make_token("customers:read", "customers:write", "settings:write")


class AdminApi:
    """The customers API as the admin calls it: requests with the admin's headers, and the
    steps most tests start with (define a custom field, create a customer)."""

    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    def get(self, path: str) -> Any:
        return self.client.get(path, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(path, json=body, headers=self.headers)

    def patch(self, path: str, body: Any, if_match: str | None = None) -> Any:
        headers = self.headers if if_match is None else {**self.headers, "If-Match": if_match}
        return self.client.patch(path, json=body, headers=headers)

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self.headers)

    def define(self, key: str, type: str = "text", **fields: Any) -> dict[str, Any]:
        """Define a custom field; its JSON."""
        body = {"key": key, "label": key.replace("_", " ").title(), "type": type, **fields}
        response = self.post("/customers/fields", body)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    def create(self, **fields: Any) -> Any:
        """POST /customers with a person's names and the given fields; the response."""
        body = {"kind": "individual", "first_name": "Jeanne", "last_name": "Martin", **fields}
        return self.post("/customers", body)


@pytest.fixture
def api(client: FlaskClient, admin: dict[str, str]) -> AdminApi:
    return AdminApi(client, admin)


@pytest.fixture
def define(api: AdminApi) -> Callable[..., dict[str, Any]]:
    """Defines a custom field through the API and returns its JSON."""
    return api.define


@pytest.fixture
def create(api: AdminApi) -> Callable[..., Any]:
    """POST /customers with a person's names and the given fields; the response."""
    return api.create
