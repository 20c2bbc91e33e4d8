"""Merging tags and ensuring tags by name on PostgreSQL, concurrent calls included."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from services.tags.models import FIXED_TAGS, Tag
from services.tags.usecases import DEFAULT_COLOR, DEFAULT_DESCRIPTION
from shared.events.envelope import CloudEvent

pytestmark = pytest.mark.needs_postgres

VIP, CALL_BACK = (str(fixed.id) for fixed in FIXED_TAGS[:2])


def tag_customers(
    deliver: Callable[..., CloudEvent], tag_id: str, customers: list[uuid.UUID]
) -> None:
    for customer in customers:
        deliver("customer.tagged", {"customer_id": str(customer), "tag_id": tag_id})


def test_merging_answers_the_surviving_tag_deletes_the_other_and_writes_tag_merged(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    source, target = new_tag(name="Fidele"), new_tag(name="Fidèle")

    response = client.post(
        f"/tags/{source['id']}/merge", json={"into": target["id"]}, headers=writer
    )

    assert response.status_code == 200
    assert response.get_json()["id"] == target["id"]
    assert response.headers["ETag"] == f'"{target["id"]}-1"'
    assert client.get(f"/tags/{source['id']}", headers=writer).status_code == 404
    [event] = outbox("tag.merged")
    assert event["data"] == {"from": source["id"], "into": target["id"]}
    assert event["subject"] == target["id"]


def test_merging_counts_each_customer_of_both_tags_once(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
) -> None:
    source, target = new_tag(), new_tag()
    both, only_source, only_target = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    left_target = uuid.uuid4()
    tag_customers(deliver, source["id"], [both, only_source])
    tag_customers(deliver, target["id"], [both, only_target, left_target])
    deliver("customer.untagged", {"customer_id": str(left_target), "tag_id": target["id"]})
    tag_customers(deliver, source["id"], [left_target])

    merged = client.post(
        f"/tags/{source['id']}/merge", json={"into": target["id"]}, headers=writer
    ).get_json()
    # Customers then moves the source's customers and says so; that must not count them twice.
    tag_customers(deliver, target["id"], [only_source])
    deliver("customer.untagged", {"customer_id": str(only_source), "tag_id": source["id"]})

    assert merged["customers_count"] == 4
    assert client.get(f"/tags/{target['id']}", headers=writer).get_json()["customers_count"] == 4


def test_merging_a_fixed_tag_away_is_409_and_keeps_both(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    target = new_tag()

    response = client.post(f"/tags/{VIP}/merge", json={"into": target["id"]}, headers=writer)

    assert response.status_code == 409
    assert "fixed" in response.get_json()["message"]
    assert client.get(f"/tags/{VIP}", headers=writer).status_code == 200


def test_merging_a_tag_into_a_fixed_tag_is_allowed(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    source = new_tag(name="Important")

    response = client.post(f"/tags/{source['id']}/merge", json={"into": VIP}, headers=writer)

    assert response.status_code == 200
    assert response.get_json()["name"] == "VIP"


def test_merging_a_tag_into_itself_is_422(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., dict[str, Any]]
) -> None:
    tag = new_tag()

    response = client.post(f"/tags/{tag['id']}/merge", json={"into": tag["id"]}, headers=writer)

    assert response.status_code == 422
    assert "into" in response.get_json()["errors"]["json"]
    assert client.get(f"/tags/{tag['id']}", headers=writer).status_code == 200


@pytest.mark.parametrize(
    "body", [{"into": "00000000-0000-4000-8000-000000000000"}, {"into": "nope"}, {}]
)
def test_merging_into_a_missing_or_invalid_tag_is_422(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    body: dict[str, Any],
) -> None:
    tag = new_tag()

    response = client.post(f"/tags/{tag['id']}/merge", json=body, headers=writer)

    assert response.status_code == 422
    assert "into" in response.get_json()["errors"]["json"]


def test_merging_an_unknown_tag_is_404(client: FlaskClient, writer: dict[str, str]) -> None:
    response = client.post(
        "/tags/00000000-0000-4000-8000-000000000000/merge", json={"into": VIP}, headers=writer
    )

    assert response.status_code == 404


def test_ensure_answers_existing_tags_in_any_case_and_creates_the_missing_ones_in_order(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    existing = new_tag(name="Déjà là")

    response = client.post(
        "/tags/ensure",
        json={"names": [" Nouveau ", "vip", "DÉJÀ LÀ", "nouveau", "Autre"]},
        headers=writer,
    )

    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [tag["name"] for tag in items] == ["Nouveau", "VIP", "Déjà là", "Autre"]
    assert items[1]["id"] == VIP and items[2]["id"] == existing["id"]
    for created in (items[0], items[3]):
        assert (created["color"], created["description"]) == (DEFAULT_COLOR, DEFAULT_DESCRIPTION)
        assert created["is_fixed"] is False
    new_events = outbox("tag.created", subject=items[0]["id"]) + outbox(
        "tag.created", subject=items[3]["id"]
    )
    assert [event["data"]["name"] for event in new_events] == ["Nouveau", "Autre"]
    assert outbox("tag.created", subject=existing["id"])[0]["data"]["name"] == "Déjà là"
    assert len(outbox("tag.created")) == len(FIXED_TAGS) + 3


@pytest.mark.parametrize(
    "body",
    [{"names": []}, {"names": ["ok", ""]}, {"names": ["x" * 65]}, {"names": "VIP"}, {}],
)
def test_ensure_refuses_invalid_names_with_422(
    client: FlaskClient, writer: dict[str, str], body: dict[str, Any]
) -> None:
    response = client.post("/tags/ensure", json=body, headers=writer)

    assert response.status_code == 422
    assert "names" in response.get_json()["errors"]["json"]


def test_concurrent_ensures_of_the_same_new_name_create_one_tag(
    app: Flask, writer: dict[str, str], outbox: Callable[..., list[dict[str, Any]]]
) -> None:
    names = [f"Concurrent {index}" for index in range(10)]
    answers: list[tuple[int, list[str]]] = []
    barrier = threading.Barrier(4)

    def ensure(variant: Callable[[str], str]) -> None:
        client = app.test_client()
        for name in names:
            barrier.wait(timeout=10)
            response = client.post("/tags/ensure", json={"names": [variant(name)]}, headers=writer)
            answers.append((response.status_code, [t["id"] for t in response.get_json()["items"]]))

    variants = [str.lower, str.upper, str.title, lambda name: name]
    threads = [threading.Thread(target=ensure, args=(variant,)) for variant in variants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(answers) == len(variants) * len(names)
    assert {status for status, _ in answers} == {200}
    assert len({ids[0] for _, ids in answers}) == len(names)
    with app.extensions["crm"].session_factory() as session:
        count = session.scalar(select(func.count()).where(Tag.name_key.like("concurrent %")))
    assert count == len(names)
    assert len(outbox("tag.created")) == len(FIXED_TAGS) + len(names)


def test_concurrent_creations_of_the_same_name_give_one_201_and_409s(
    app: Flask, writer: dict[str, str]
) -> None:
    statuses: list[int] = []
    barrier = threading.Barrier(4)

    def create(name: str) -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        body = {"name": name, "description": "d", "color": "#000000"}
        statuses.append(client.post("/tags", json=body, headers=writer).status_code)

    threads = [threading.Thread(target=create, args=(n,)) for n in ["Race", "race", "RACE", "rAce"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [201, 409, 409, 409]
