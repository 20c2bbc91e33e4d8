"""Fixtures of the notifications tests: the app on PostgreSQL, tokens, the outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.notifications.app import create_app
from services.notifications.config import NotificationsConfig
from shared.settings import Settings


@pytest.fixture
def notifications_settings(pg_settings: Callable[..., Settings]) -> Settings:
    """The notifications service's settings on its emptied PostgreSQL test database."""
    return pg_settings("notifications")


@pytest.fixture
def app(notifications_settings: Settings) -> Iterator[Flask]:
    app = create_app(notifications_settings, NotificationsConfig())
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def reader(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may read but not change templates."""
    return make_token("customers:read")


@pytest.fixture
def writer(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may change templates and settings."""
    return make_token("customers:read", "notifications:write")
