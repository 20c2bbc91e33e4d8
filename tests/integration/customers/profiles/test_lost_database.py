"""Reading a customer (run by the driver itself) when the database connection is lost."""

from __future__ import annotations

import functools

import pytest
from flask import Flask
from flask.testing import FlaskClient

import shared.app
from shared.db import make_engine
from tests.servers import cut_database_sessions


@pytest.fixture(autouse=True)
def _no_idle_ping(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app's pool pings no connection, however long the test takes between two requests: on
    a loaded machine more than the 2 s idle threshold may pass, and a ping would replace the cut
    connection before the request meets it."""
    monkeypatch.setattr(shared.app, "make_engine", functools.partial(make_engine, ping_after=1e9))


def test_a_lost_connection_answers_503_then_the_next_read_succeeds(
    app: Flask, client: FlaskClient, writer: dict[str, str]
) -> None:
    created = client.post(
        "/customers", json={"kind": "individual", "last_name": "Lost"}, headers=writer
    )
    assert created.status_code == 201
    path = f"/customers/{created.get_json()['id']}"
    assert client.get(path, headers=writer).status_code == 200
    assert cut_database_sessions(app.extensions["crm"].settings.database_url) >= 1

    lost = client.get(path, headers=writer)

    assert lost.status_code == 503
    assert lost.headers["Retry-After"] == "1"
    assert client.get(path, headers=writer).get_json()["last_name"] == "Lost"
