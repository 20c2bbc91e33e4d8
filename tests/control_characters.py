"""What the control-character tests of every service share: both backends, the 422 they expect."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.migrations import migrate
from tests.conftest import settings_for

BACKENDS = ["postgresql", "sqlite"]


def client_on(
    request: pytest.FixtureRequest, service: str, tmp_path: Path
) -> Iterator[FlaskClient]:
    """The service's API on `request.param`: the `app` fixture's PostgreSQL, or a SQLite file."""
    if request.param == "postgresql":
        app: Flask = request.getfixturevalue("app")
        yield app.test_client()
        return
    url = f"sqlite:///{tmp_path / f'{service}.sqlite3'}"
    settings = settings_for(service, database_urls={service: url})
    migrate(settings)
    app = importlib.import_module(f"services.{service}.app").create_app(settings)
    yield app.test_client()
    app.extensions["crm"].engine.dispose()


def refused(response: Any, location: str) -> dict[str, Any]:
    """The field errors at `location` of a 422 in the suite's error shape."""
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity"
    return dict(body["errors"][location])
