"""`/<service>/readyz` over the real servers: ready with the real PostgreSQL and RabbitMQ, not
ready when either one refuses connections. A fresh app per answer (its readiness may be cached)."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from services.tags.app import create_app
from tests.conftest import settings_for


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def readiness(database_url: str, broker_url: str) -> tuple[int, dict[str, Any]]:
    """The status code and body of the tags service's readiness answer, from a new app."""
    app = create_app(
        settings_for("tags", database_urls={"tags": database_url}, broker_url=broker_url)
    )
    try:
        response = app.test_client().get("/tags/readyz")
        return response.status_code, response.get_json()
    finally:
        app.extensions["crm"].engine.dispose()


@pytest.fixture
def database_url(pg_settings: Any) -> str:
    return str(pg_settings("tags").database_url)


def test_ready_with_the_real_database_and_broker(database_url: str, amqp_url: str) -> None:
    status, body = readiness(database_url, amqp_url)
    assert (status, body["status"]) == (200, "ready")
    assert body["checks"] == {"database": "ok", "broker": "ok"}


def test_not_ready_when_the_database_refuses_connections(amqp_url: str, pg_settings: Any) -> None:
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/crm_nowhere"
    status, body = readiness(nowhere, amqp_url)
    assert (status, body["status"]) == (503, "not ready")
    assert body["checks"]["database"].startswith("unreachable")
    assert body["checks"]["broker"] == "ok"


def test_not_ready_when_the_broker_refuses_connections(database_url: str) -> None:
    nowhere = f"amqp://guest:guest@127.0.0.1:{closed_port()}//"
    status, body = readiness(database_url, nowhere)
    assert (status, body["status"]) == (503, "not ready")
    assert body["checks"]["broker"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"


def test_not_ready_when_the_broker_refuses_the_login(database_url: str, amqp_url: str) -> None:
    """A broker that answers but refuses the credentials is not a ready broker either."""
    refused = amqp_url.replace("guest:guest@", "guest:wrong-password@", 1)
    assert refused != amqp_url
    status, body = readiness(database_url, refused)
    assert (status, body["status"]) == (503, "not ready")
    assert body["checks"]["broker"].startswith("unreachable")
