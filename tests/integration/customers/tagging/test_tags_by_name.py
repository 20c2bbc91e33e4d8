"""Adding a tag by name: a new name is created through the real tags service over HTTP, by a
caller who may create tags (`tags:write`) and by no one else, whatever the door."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from services.customers.models import TagView
from services.tags.models import Tag
from shared.db import OutboxMessage
from shared.events.envelope import CloudEvent
from shared.events.registry import parse_event
from shared.settings import Settings
from tests.integration.customers.tagging.conftest import Snapshot

pytestmark = pytest.mark.needs_postgres


@pytest.fixture
def tags_base_url(tags_service: str) -> str:
    """Here the customers app reaches the real tags service."""
    return tags_service


@pytest.fixture
def creator(make_token: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Headers of a staff member who may change customers and create tags."""
    return make_token("customers:read", "customers:write", "tags:write")


def tags_named(pg_settings: Callable[..., Settings], name: str) -> list[str]:
    """The names of the tags service's tags called `name`, read from its database."""
    engine = create_engine(pg_settings("tags").database_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Tag.name).where(Tag.name == name)))
    finally:
        engine.dispose()


def projected(app: Flask, tag_id: str) -> TagView | None:
    with app.extensions["crm"].session_factory() as session:
        return session.get(TagView, uuid.UUID(tag_id))


def test_a_new_name_is_created_by_the_tags_service_projected_and_applied(
    app: Flask,
    client: FlaskClient,
    creator: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
    unique: Callable[[str], str],
) -> None:
    customer = add_customer()
    name = unique("Nouveau client")

    response = client.post(f"/customers/{customer}/tags", json={"name": name}, headers=creator)

    assert response.status_code == 200, response.get_json()
    [tag] = response.get_json()["tags"]
    assert tag["name"] == name
    assert tag["color"] == "#9e9e9e"
    view = projected(app, tag["id"])
    assert view is not None and view.name == name
    [event] = outbox("customer.tagged", subject=customer)
    assert event["data"]["tag_id"] == tag["id"]
    assert event["data"]["tag_name"] == name


def test_the_tag_created_event_arriving_later_changes_nothing(
    app: Flask,
    client: FlaskClient,
    creator: dict[str, str],
    pg_settings: Callable[..., Settings],
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    outbox: Callable[..., list[dict[str, Any]]],
    unique: Callable[[str], str],
) -> None:
    customer = add_customer()
    name = unique("Fidèle")
    [tag] = client.post(
        f"/customers/{customer}/tags", json={"name": name}, headers=creator
    ).get_json()["tags"]
    before = projected(app, tag["id"])
    events_before = outbox()
    tags_db = create_engine(pg_settings("tags").database_url, poolclass=NullPool)
    with Session(tags_db) as session:
        [payload] = session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.type == "tag.created", OutboxMessage.subject == tag["id"]
            )
        )
    tags_db.dispose()

    deliver(parse_event(json.loads(payload)))

    after = projected(app, tag["id"])
    assert before is not None and after is not None
    assert (after.name, after.color, after.updated_at) == (
        before.name,
        before.color,
        before.updated_at,
    )
    assert outbox() == events_before


def test_an_older_tag_state_never_overwrites_the_projected_one(
    app: Flask,
    client: FlaskClient,
    creator: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    unique: Callable[[str], str],
) -> None:
    customer = add_customer()
    name = unique("Fidèle")
    [tag] = client.post(
        f"/customers/{customer}/tags", json={"name": name}, headers=creator
    ).get_json()["tags"]
    older = {
        "id": tag["id"],
        "name": "an older name",
        "description": "d",
        "color": "#000000",
        "order": None,
        "is_fixed": False,
        "created_at": "2000-01-01T00:00:00+00:00",
        "updated_at": "2000-01-01T00:00:00+00:00",
    }

    deliver("tag.updated", older)

    again = projected(app, tag["id"])
    assert again is not None and again.name == name


def test_an_unknown_customer_is_404_before_any_tag_is_created(
    client: FlaskClient,
    creator: dict[str, str],
    pg_settings: Callable[..., Settings],
    unique: Callable[[str], str],
) -> None:
    name = unique("orphan")

    response = client.post(f"/customers/{uuid.uuid4()}/tags", json={"name": name}, headers=creator)

    assert response.status_code == 404
    assert tags_named(pg_settings, name) == []


def test_a_stale_if_match_is_412_before_any_tag_is_created(
    client: FlaskClient,
    creator: dict[str, str],
    pg_settings: Callable[..., Settings],
    add_customer: Callable[..., uuid.UUID],
    unique: Callable[[str], str],
) -> None:
    customer = add_customer()
    name = unique("stale")

    response = client.post(
        f"/customers/{customer}/tags",
        json={"name": name},
        headers={**creator, "If-Match": f'"{customer}-9"'},
    )

    assert response.status_code == 412
    assert tags_named(pg_settings, name) == []
    # The tags service was there all along: the same request without If-Match creates it.
    created = client.post(f"/customers/{customer}/tags", json={"name": name}, headers=creator)
    assert created.status_code == 200
    assert tags_named(pg_settings, name) == [name]


# --- the confused deputy: customers creates no tag for a caller who may not ----------------------
def test_a_new_name_without_tags_write_is_403_and_no_tag_is_created(
    client: FlaskClient,
    writer: dict[str, str],
    pg_settings: Callable[..., Settings],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
    unique: Callable[[str], str],
) -> None:
    customer = add_customer()
    name = unique("Sneaky")
    before = snapshot()

    response = client.post(f"/customers/{customer}/tags", json={"name": name}, headers=writer)

    assert response.status_code == 403
    assert "tags:write" in response.get_json()["message"]
    assert tags_named(pg_settings, name) == []
    assert snapshot() == before


def test_an_existing_name_without_tags_write_is_applied_even_before_its_event(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    make_token: Callable[..., dict[str, str]],
    tags_service: str,
    add_customer: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    unique: Callable[[str], str],
) -> None:
    customer = add_customer()
    name = unique("Déjà là")
    created = requests.post(
        f"{tags_service}/tags",
        json={"name": name, "description": "Made in tags.", "color": "#00aa00"},
        headers=make_token("tags:write"),
        timeout=10,
    ).json()
    assert projected(app, created["id"]) is None  # its tag.created never comes here

    response = client.post(
        f"/customers/{customer}/tags", json={"name": f"  {name.upper()} "}, headers=writer
    )

    assert response.status_code == 200, response.get_json()
    assert tags_of(customer) == {uuid.UUID(created["id"])}
    view = projected(app, created["id"])
    assert view is not None and view.name == name


def test_a_projected_name_without_tags_write_is_applied(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    tag, customer = new_tag("Projected already"), add_customer()

    response = client.post(
        f"/customers/{customer}/tags", json={"name": "projected ALREADY"}, headers=writer
    )

    assert response.status_code == 200
    assert tags_of(customer) == {tag}
