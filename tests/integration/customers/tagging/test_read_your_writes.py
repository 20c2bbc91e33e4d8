"""Read your writes across services: a tag the tags service has just acknowledged is usable at
once in customers, though its `tag.created` has not arrived (no relay runs in these tests: the
event stays in the tags service's outbox). Two apps: the real tags service over HTTP, and the
customers app whose tags client points at it.
"""

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
def create_tag(
    tags_service: str,
    make_token: Callable[..., dict[str, str]],
    unique: Callable[[str], str],
) -> Callable[..., dict[str, Any]]:
    """Creates a tag in the tags service, as a front end would (`POST /tags`); the tag."""

    def _create(name: str | None = None) -> dict[str, Any]:
        response = requests.post(
            f"{tags_service}/tags",
            json={"name": name or unique("Fresh"), "description": "Made now.", "color": "#1e90ff"},
            headers=make_token("tags:write"),
            timeout=10,
        )
        assert response.status_code == 201, response.text
        tag: dict[str, Any] = response.json()
        return tag

    return _create


def projected(app: Flask, tag_id: object) -> TagView | None:
    with app.extensions["crm"].session_factory() as session:
        return session.get(TagView, uuid.UUID(str(tag_id)))


def pending_tag_created(pg_settings: Callable[..., Settings], tag_id: str) -> CloudEvent:
    """The tag's `tag.created`, still in the tags service's outbox (never relayed here)."""
    engine = create_engine(pg_settings("tags").database_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            [payload] = session.scalars(
                select(OutboxMessage.payload).where(
                    OutboxMessage.type == "tag.created",
                    OutboxMessage.subject == tag_id,
                    OutboxMessage.sent_at.is_(None),
                )
            )
    finally:
        engine.dispose()
    return parse_event(json.loads(payload))


# --- a tag just created is usable at once ---------------------------------------------------------
def test_a_tag_just_created_is_assigned_by_id_at_once_and_projected(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    pg_settings: Callable[..., Settings],
    create_tag: Callable[..., dict[str, Any]],
    add_customer: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = add_customer()
    tag = create_tag()
    assert projected(app, tag["id"]) is None  # the event has not come, and will not

    response = client.post(
        f"/customers/{customer}/tags", json={"tag_id": tag["id"]}, headers=writer
    )

    assert response.status_code == 200, response.get_json()
    assert [(t["id"], t["name"], t["color"]) for t in response.get_json()["tags"]] == [
        (tag["id"], tag["name"], tag["color"])
    ]
    view = projected(app, tag["id"])
    assert view is not None and (view.name, view.is_fixed) == (tag["name"], False)
    [event] = outbox("customer.tagged", subject=customer)
    assert event["data"]["tag_name"] == tag["name"]
    pending_tag_created(pg_settings, tag["id"])  # still unsent: nothing but the call filled it


def test_a_tag_just_created_is_given_by_put_beside_known_ones(
    client: FlaskClient,
    writer: dict[str, str],
    create_tag: Callable[..., dict[str, Any]],
    new_tag: Callable[..., uuid.UUID],
    add_customer: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    known, customer = new_tag(), add_customer()
    fresh, other = create_tag(), create_tag()

    response = client.put(
        f"/customers/{customer}/tags",
        json={"tag_ids": [str(known), fresh["id"], other["id"]]},
        headers=writer,
    )

    assert response.status_code == 200, response.get_json()
    assert tags_of(customer) == {known, uuid.UUID(fresh["id"]), uuid.UUID(other["id"])}


def test_bulk_add_and_remove_accept_a_tag_just_created(
    client: FlaskClient,
    writer: dict[str, str],
    create_tag: Callable[..., dict[str, Any]],
    add_customer: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    customers = [add_customer(), add_customer()]
    ids = [str(customer) for customer in customers]
    added, removed = create_tag(), create_tag()

    add = client.post(
        "/customers/bulk",
        json={"action": "add_tags", "ids": ids, "tag_ids": [added["id"]]},
        headers=writer,
    )
    remove = client.post(
        "/customers/bulk",
        json={"action": "remove_tags", "ids": ids, "tag_ids": [removed["id"]]},
        headers=writer,
    )

    assert add.status_code == 200, add.get_json()
    assert add.get_json() == {"matched": 2, "changed": 2}
    assert remove.status_code == 200, remove.get_json()
    assert remove.get_json() == {"matched": 2, "changed": 0}
    assert all(tags_of(customer) == {uuid.UUID(added["id"])} for customer in customers)


def test_the_list_a_segment_and_a_bulk_filter_accept_a_tag_just_created(
    client: FlaskClient,
    writer: dict[str, str],
    create_tag: Callable[..., dict[str, Any]],
    add_customer: Callable[..., uuid.UUID],
) -> None:
    add_customer()
    listed, saved, filtered = create_tag(), create_tag(), create_tag()

    page = client.get("/customers", query_string={"tag": listed["id"]}, headers=writer)
    segment = client.post(
        "/customers/segments",
        json={"name": f"with {saved['name']}", "filter": {"tag": [saved["id"]]}},
        headers=writer,
    )
    bulk = client.post(
        "/customers/bulk",
        json={"action": "set_status", "filter": {"tag": filtered["id"]}, "status": "vip"},
        headers=writer,
    )

    assert page.status_code == 200, page.get_json()
    assert page.get_json()["items"] == []
    assert segment.status_code == 201, segment.get_json()
    assert bulk.status_code == 200, bulk.get_json()
    assert bulk.get_json() == {"matched": 0, "changed": 0}


def test_the_tag_created_event_arriving_after_the_call_changes_nothing(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    pg_settings: Callable[..., Settings],
    create_tag: Callable[..., dict[str, Any]],
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = add_customer()
    tag = create_tag()
    client.post(f"/customers/{customer}/tags", json={"tag_id": tag["id"]}, headers=writer)
    before = projected(app, tag["id"])
    events_before = outbox()

    deliver(pending_tag_created(pg_settings, tag["id"]))

    after = projected(app, tag["id"])
    assert before is not None and after is not None
    assert (after.name, after.color, after.order, after.is_fixed, after.updated_at) == (
        before.name,
        before.color,
        before.order,
        before.is_fixed,
        before.updated_at,
    )
    assert outbox() == events_before


# --- a tag the tags service does not know either is refused -------------------------------------
def test_unknown_tag_ids_are_422_naming_them_and_change_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    create_tag: Callable[..., dict[str, Any]],
    new_tag: Callable[..., uuid.UUID],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    customer, known, fresh, unknown = add_customer(), new_tag(), create_tag(), uuid.uuid4()
    before = snapshot()

    put = client.put(
        f"/customers/{customer}/tags",
        json={"tag_ids": [str(known), str(unknown)]},
        headers=writer,
    )
    post = client.post(f"/customers/{customer}/tags", json={"tag_id": str(unknown)}, headers=writer)
    # A fresh tag beside an unknown one: the unknown one refuses the whole request.
    bulk = client.post(
        "/customers/bulk",
        json={"action": "add_tags", "ids": [str(customer)], "tag_ids": [fresh["id"], str(unknown)]},
        headers=writer,
    )

    assert put.status_code == 422
    [message] = put.get_json()["errors"]["json"]["tag_ids"]
    assert str(unknown) in message and str(known) not in message
    assert post.status_code == 422
    assert str(unknown) in post.get_json()["errors"]["json"]["tag_id"][0]
    assert bulk.status_code == 422
    [message] = bulk.get_json()["errors"]["json"]["tag_ids"]
    assert str(unknown) in message and fresh["id"] not in message
    after = snapshot()
    # Nothing changed but the projection of the real, fresh tag.
    assert after[:2] == before[:2] and after[3:] == before[3:]
    assert {row.id for row in after[2]} - {row.id for row in before[2]} <= {uuid.UUID(fresh["id"])}


def test_an_unknown_tag_in_the_list_a_segment_or_a_bulk_filter_is_422_on_it(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    add_customer()
    unknown = str(uuid.uuid4())
    before = snapshot()

    page = client.get("/customers", query_string={"tag": unknown}, headers=writer)
    segment = client.post(
        "/customers/segments", json={"name": "ghosts", "filter": {"tag": unknown}}, headers=writer
    )
    bulk = client.post(
        "/customers/bulk",
        json={"action": "set_status", "filter": {"tag": [unknown]}, "status": "vip"},
        headers=writer,
    )

    assert page.status_code == 422
    assert unknown in page.get_json()["errors"]["query"]["tag"][0]
    assert segment.status_code == 422
    assert unknown in segment.get_json()["errors"]["json"]["filter"]["tag"][0]
    assert bulk.status_code == 422
    assert unknown in bulk.get_json()["errors"]["json"]["filter"]["tag"][0]
    assert snapshot() == before


def test_a_segment_patched_with_an_unknown_tag_is_422_and_unchanged(
    client: FlaskClient,
    writer: dict[str, str],
    create_tag: Callable[..., dict[str, Any]],
) -> None:
    tag = create_tag()
    created = client.post(
        "/customers/segments", json={"name": "fresh", "filter": {"tag": tag["id"]}}, headers=writer
    ).get_json()
    unknown = str(uuid.uuid4())

    response = client.patch(
        f"/customers/segments/{created['id']}", json={"filter": {"tag": unknown}}, headers=writer
    )

    assert response.status_code == 422
    assert unknown in response.get_json()["errors"]["json"]["filter"]["tag"][0]
    again = client.get(f"/customers/segments/{created['id']}", headers=writer).get_json()
    assert again["filter"]["tag"] == [tag["id"]]
