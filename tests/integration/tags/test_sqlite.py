"""The same catalogue on SQLite, as the embedded mode runs it: migration, uniqueness, ensure."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.tags.app import create_app
from services.tags.handlers import SUBSCRIPTIONS
from services.tags.models import FIXED_TAGS
from shared.events.consumer import EventDispatcher
from shared.events.envelope import make_event
from shared.migrations import migrate
from shared.settings import Settings
from tests.conftest import settings_for


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """The tags app on a fresh SQLite file, migrated the way the embedded mode does it."""
    settings: Settings = settings_for(
        "tags", database_urls={"tags": f"sqlite:///{tmp_path / 'tags.sqlite3'}"}
    )
    migrate(settings)
    app = create_app(settings)
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def writer(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    return make_token("customers:read", "tags:write")


def test_the_migration_seeds_the_fixed_tags_and_their_events_once(
    sqlite_app: Flask, writer: dict[str, str], tmp_path: Path
) -> None:
    migrate(settings_for("tags", database_urls={"tags": f"sqlite:///{tmp_path / 'tags.sqlite3'}"}))
    client = sqlite_app.test_client()

    items = client.get("/tags", headers=writer).get_json()["items"]

    assert [(tag["id"], tag["is_fixed"]) for tag in items] == [
        (str(fixed.id), True) for fixed in FIXED_TAGS
    ]


def test_names_are_unique_whatever_their_case(sqlite_app: Flask, writer: dict[str, str]) -> None:
    client: FlaskClient = sqlite_app.test_client()
    body: dict[str, Any] = {"name": "École", "description": "d", "color": "#000"}

    assert client.post("/tags", json=body, headers=writer).status_code == 201
    assert client.post("/tags", json={**body, "name": "ÉCOLE"}, headers=writer).status_code == 409


def test_concurrent_ensures_of_the_same_new_name_create_one_tag(
    sqlite_app: Flask, writer: dict[str, str]
) -> None:
    ids: list[str] = []
    barrier = threading.Barrier(4)

    def ensure(name: str) -> None:
        client = sqlite_app.test_client()
        barrier.wait(timeout=10)
        response = client.post("/tags/ensure", json={"names": [name, "VIP"]}, headers=writer)
        assert response.status_code == 200, response.get_json()
        ids.append(response.get_json()["items"][0]["id"])

    threads = [threading.Thread(target=ensure, args=(n,)) for n in ["Neuf", "neuf", "NEUF", "nEuf"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(ids) == 4 and len(set(ids)) == 1
    listed = sqlite_app.test_client().get("/tags", headers=writer).get_json()["items"]
    assert [tag["id"] for tag in listed if tag["name"].lower() == "neuf"] == ids[:1]


def test_merging_counts_each_customer_of_both_tags_once(
    sqlite_app: Flask, writer: dict[str, str]
) -> None:
    client = sqlite_app.test_client()
    dispatcher = EventDispatcher("tags", SUBSCRIPTIONS, sqlite_app.extensions["crm"].uow)
    source, target = (
        client.post("/tags/ensure", json={"names": [name]}, headers=writer).get_json()["items"][0]
        for name in ("Source", "Cible")
    )
    both, only_source, only_target = (str(uuid.uuid4()) for _ in range(3))
    for customer, tag in [
        (both, source),
        (only_source, source),
        (both, target),
        (only_target, target),
    ]:
        data = {"customer_id": customer, "tag_id": tag["id"]}
        dispatcher.dispatch(make_event("customer.tagged", data, "customers"))

    response = client.post(
        f"/tags/{source['id']}/merge", json={"into": target["id"]}, headers=writer
    )

    assert response.status_code == 200
    assert response.get_json()["customers_count"] == 3
