"""Fixtures of the export tests: the import tests' app (the real tags service over HTTP, the
worker's job) for round trips, a staff member who may do everything with customers."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.customers.imports.conftest import (
    customers_settings,
    tags,
    tags_base_url,
    tags_service,
    work,
)

__all__ = ["customers_settings", "tags", "tags_base_url", "tags_service", "work"]

Headers = dict[str, str]


@pytest.fixture
def staff(make_token: Callable[..., Headers]) -> Headers:
    """Every scope an export, an import, custom fields and tags by name need."""
    return make_token(
        "customers:read",
        "customers:write",
        "customers:delete",
        "customers:import",
        "customers:export",
        "settings:write",
        "tags:write",
    )


def download(client: FlaskClient, headers: Headers, query: str = "") -> Any:
    """GET /customers/export.csv, streamed; the response (its body read to the end)."""
    response = client.get(f"/customers/export.csv{query}", headers=headers, buffered=False)
    response.body = b"".join(response.response) if response.status_code == 200 else b""
    return response


def parse(body: bytes, delimiter: str = ",") -> list[dict[str, str]]:
    """The export's records by column, its BOM checked and taken off."""
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8").removeprefix("\ufeff")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
