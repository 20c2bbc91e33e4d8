"""Fixtures every customers feature's tests share: the app on PostgreSQL, a client, tokens."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.app import create_app
from services.customers.models import DEFAULT_STATUSES, Status
from shared.settings import Settings


@pytest.fixture
def customers_settings(pg_settings: Callable[..., Settings]) -> Settings:
    """The customers service's settings on its emptied PostgreSQL test database; the tags
    service nowhere (a port nothing listens on), unless a feature's tests put it somewhere."""
    return pg_settings("customers", service_urls={"tags": f"http://127.0.0.1:{closed_port()}"})


def closed_port() -> int:
    """A local port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def app(customers_settings: Settings) -> Iterator[Flask]:
    """The customers app, with the default statuses its migration seeds (emptying removed them)."""
    app = create_app(customers_settings)
    with app.extensions["crm"].session_factory() as session:
        session.add_all(
            Status(key=key, label=label, is_default=True, position=position)
            for key, label, position in DEFAULT_STATUSES
        )
        session.commit()
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def reader(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may read customers but not change them."""
    return make_token("customers:read")


@pytest.fixture
def writer(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may read and change customers, not delete them."""
    return make_token("customers:read", "customers:write")
