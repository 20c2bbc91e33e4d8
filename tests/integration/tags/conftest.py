"""Fixtures of the tags service's integration tests: the app on PostgreSQL, tokens, the outbox."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.tags.app import create_app
from services.tags.handlers import SUBSCRIPTIONS
from services.tags.usecases import seed_fixed_tags
from shared.events.consumer import EventDispatcher
from shared.events.envelope import CloudEvent, make_event
from shared.events.registry import parse_event
from shared.settings import Settings


@pytest.fixture
def tags_settings(pg_settings: Callable[..., Settings]) -> Settings:
    """The tags service's settings on its emptied PostgreSQL test database."""
    return pg_settings("tags")


@pytest.fixture
def app(tags_settings: Settings) -> Iterator[Flask]:
    """The tags app, with the fixed tags its migration seeds (the emptying removed them)."""
    app = create_app(tags_settings)
    seed_fixed_tags(app.extensions["crm"].uow())
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def reader(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may read tags but not change them."""
    return make_token("customers:read")


@pytest.fixture
def writer(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may read and change tags."""
    return make_token("customers:read", "tags:write")


@pytest.fixture
def new_tag(
    client: FlaskClient, writer: dict[str, str], unique: Callable[[str], str]
) -> Callable[..., dict[str, Any]]:
    """Creates a tag through the API and returns it; fields default to a unique valid tag."""

    def _create(**fields: Any) -> dict[str, Any]:
        body = {"name": unique("tag"), "description": "A test tag.", "color": "#123456", **fields}
        response = client.post("/tags", json=body, headers=writer)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    return _create


@pytest.fixture
def deliver(app: Flask) -> Callable[..., CloudEvent]:
    """Hands an event to the tags service's handlers as its consumer does (inbox included).

    `deliver(type, data)` makes a new event; `deliver(event)` delivers that one again.
    """
    dispatcher = EventDispatcher("tags", SUBSCRIPTIONS, app.extensions["crm"].uow)

    def _deliver(event: CloudEvent | str, data: dict[str, Any] | None = None) -> CloudEvent:
        if isinstance(event, str):
            event = make_event(event, data or {}, source="customers")
        # Parsed back from JSON as the consumer receives it: the data must pass the catalogue.
        dispatcher.dispatch(parse_event(json.loads(event.to_json())))
        return event

    return _deliver
