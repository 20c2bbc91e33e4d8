"""Fixtures of the custom fields tests: the app on PostgreSQL, an admin and a writer, helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient


@pytest.fixture
def admin(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may define custom fields and write customers."""
    return make_token("customers:read", "customers:write", "settings:write")


@pytest.fixture
def define(client: FlaskClient, admin: dict[str, str]) -> Callable[..., dict[str, Any]]:
    """Defines a custom field through the API and returns its JSON."""

    def _define(key: str, type: str = "text", **fields: Any) -> dict[str, Any]:
        body = {"key": key, "label": key.replace("_", " ").title(), "type": type, **fields}
        response = client.post("/customers/fields", json=body, headers=admin)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return _define


@pytest.fixture
def create(client: FlaskClient, admin: dict[str, str]) -> Callable[..., Any]:
    """POST /customers with a person's names and the given fields; the response."""

    def _create(**fields: Any) -> Any:
        body = {"kind": "individual", "first_name": "Jeanne", "last_name": "Martin", **fields}
        return client.post("/customers", json=body, headers=admin)

    return _create
