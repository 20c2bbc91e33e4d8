"""The same set-based statements on SQLite, as the embedded mode runs them (migrated file)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.app import create_app
from services.customers.models import Customer
from services.customers.tagging.bulk_jobs import run_queued_jobs
from shared.events.envelope import CloudEvent
from shared.migrations import migrate
from shared.settings import Settings
from tests.conftest import settings_for
from tests.integration.customers.tagging.conftest import TAGS_UP, Snapshot, tag_state

LIMIT = 4


@pytest.fixture
def customers_settings(tmp_path: Path, tags_base_url: str) -> Settings:
    """The customers service on a fresh SQLite file, migrated as the embedded mode does it."""
    settings = settings_for(
        "customers",
        database_urls={"customers": f"sqlite:///{tmp_path / 'customers.sqlite3'}"},
        bulk_sync_limit=LIMIT,
        service_urls={"tags": tags_base_url},
    )
    migrate(settings)
    return settings


@pytest.fixture
def app(customers_settings: Settings) -> Iterator[Flask]:
    """The customers app on SQLite (the migration seeded the default statuses)."""
    app = create_app(customers_settings)
    yield app
    app.extensions["crm"].engine.dispose()


def test_customer_tags_are_replaced_added_and_removed(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    one, two, three = new_tag("One", order=1), new_tag("Two", order=2), new_tag("Three")
    customer = add_customer(tags=(one,))

    put = client.put(
        f"/customers/{customer}/tags", json={"tag_ids": [str(two), str(three)]}, headers=writer
    )
    again = client.post(f"/customers/{customer}/tags", json={"tag_id": str(two)}, headers=writer)
    removed = client.delete(f"/customers/{customer}/tags/{three}", headers=writer)

    assert [tag["name"] for tag in put.get_json()["tags"]] == ["Two", "Three"]
    assert [tag["name"] for tag in again.get_json()["tags"]] == ["Two", "Three"]
    assert [tag["name"] for tag in removed.get_json()["tags"]] == ["Two"]
    assert tags_of(customer) == {two}
    assert len(outbox("customer.tagged")) == 2
    assert len(outbox("customer.untagged")) == 2
    assert removed.headers["ETag"] == f'"{customer}-3"'


@pytest.mark.parametrize("tags_base_url", [TAGS_UP], indirect=True)
def test_unknown_tags_change_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    customer = add_customer()
    before = snapshot()

    response = client.put(
        f"/customers/{customer}/tags", json={"tag_ids": [str(uuid.uuid4())]}, headers=writer
    )

    assert response.status_code == 422
    assert snapshot() == before


def test_bulk_actions_by_ids_and_by_filter(
    client: FlaskClient,
    deleter: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    customer_row: Callable[[uuid.UUID], Customer | None],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    tag = new_tag()
    lyon = [add_customer(address_city="Lyon", status="lead") for _ in range(2)]
    paris = add_customer(address_city="Paris", status="prospect", tags=(tag,))

    def bulk(**body: Any) -> dict[str, Any]:
        response = client.post("/customers/bulk", json=body, headers=deleter)
        assert response.status_code == 200, response.get_json()
        return dict(response.get_json())

    ids = [str(c) for c in [*lyon, paris]]
    assert bulk(action="add_tags", ids=ids, tag_ids=[str(tag)]) == {"matched": 3, "changed": 2}
    assert all(tags_of(customer) == {tag} for customer in [*lyon, paris])
    assert bulk(action="remove_tags", filter={"city": "LYON"}, tag_ids=[str(tag)]) == {
        "matched": 2,
        "changed": 2,
    }
    assert tags_of(lyon[0]) == set() and tags_of(paris) == {tag}
    assert bulk(action="set_status", ids=ids, status="prospect") == {"matched": 3, "changed": 2}
    assert {e["data"]["from"] for e in outbox("customer.status_changed")} == {"lead"}
    assert bulk(action="delete", filter={"tag": str(tag)}) == {"matched": 1, "changed": 1}
    assert customer_row(paris) is None
    [deleted] = outbox("customer.deleted")
    assert deleted["data"] == {"customer_id": str(paris), "tag_ids": [str(tag)]}


def test_bulk_jobs_run_in_chunks(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customers = [str(add_customer()) for _ in range(LIMIT * 2 + 1)]
    response = client.post(
        "/customers/bulk",
        json={"action": "add_tags", "ids": customers, "tag_ids": [str(new_tag())]},
        headers=writer,
    )
    assert response.status_code == 202

    assert run_queued_jobs(app.extensions["crm"].uow, LIMIT) == 1

    job = client.get(f"/customers/bulk/{response.get_json()['id']}", headers=writer).get_json()
    assert (job["status"], job["processed"], job["changed"]) == ("done", 9, 9)
    assert len(outbox("customer.tagged")) == 9


def test_tag_cascades_and_the_projection(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    source, target, doomed = new_tag(), new_tag(), new_tag()
    customer = add_customer(tags=(source, doomed))
    other = add_customer(tags=(source, target))

    merged = deliver("tag.merged", {"from": str(source), "into": str(target)})
    deliver(merged)
    deliver("tag.deleted", {"id": str(doomed), "name": "d"})
    deliver("tag.updated", tag_state(target, "Renamed", 1, "#010203"))
    deliver(
        "tag.updated",
        {**tag_state(target, "Stale", 1, "#010203"), "updated_at": "2001-01-01T00:00:00+00:00"},
    )

    assert tags_of(customer) == tags_of(other) == {target}
    assert len(outbox("customer.tagged")) == 1
    assert len(outbox("customer.untagged")) == 3
    [shown] = client.get(f"/customers/{customer}/tags", headers=reader).get_json()["tags"]
    assert shown["name"] == "Renamed"
