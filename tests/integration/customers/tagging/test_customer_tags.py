"""Tags on one customer: replace, add, remove, read; events, ETags and every refusal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.events import contact_of
from services.customers.models import Customer
from services.customers.tagging.usecases import change_tags
from tests.integration.customers.tagging.conftest import Snapshot

pytestmark = pytest.mark.needs_postgres


def test_putting_tags_replaces_them_and_answers_them_in_display_order(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    kept, dropped = new_tag("Kept", order=2), new_tag("Dropped")
    unordered, first = new_tag("alpha", order=None, color="#aabbcc"), new_tag("Zulu", order=1)
    customer = add_customer(tags=(kept, dropped))

    response = client.put(
        f"/customers/{customer}/tags",
        json={"tag_ids": [str(unordered), str(kept), str(first), str(first)]},
        headers=writer,
    )

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["customer_id"] == str(customer)
    assert [tag["name"] for tag in body["tags"]] == ["Zulu", "Kept", "alpha"]
    assert body["tags"][2] == {
        "id": str(unordered),
        "name": "alpha",
        "color": "#aabbcc",
        "order": None,
    }
    assert tags_of(customer) == {kept, unordered, first}
    assert response.headers["ETag"] == f'"{customer}-2"'


def test_putting_tags_emits_tagged_and_untagged_for_each_change_only(
    app: Flask,
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    kept, dropped, added = new_tag("Kept"), new_tag("Dropped"), new_tag("Added")
    customer = add_customer(tags=(kept, dropped), first_name="Ada", email="ada@example.com")

    client.put(
        f"/customers/{customer}/tags", json={"tag_ids": [str(kept), str(added)]}, headers=writer
    )

    [tagged] = outbox("customer.tagged", subject=customer)
    [untagged] = outbox("customer.untagged", subject=customer)
    assert tagged["data"]["tag_id"] == str(added)
    assert tagged["data"]["tag_name"] == "Added"
    assert tagged["data"]["reason"] == "manual"
    with app.extensions["crm"].session_factory() as session:
        stored = session.get(Customer, customer)
        assert stored is not None
        assert tagged["data"]["customer"] == contact_of(stored)
    assert tagged["data"]["customer"]["email"] == "ada@example.com"
    assert tagged["data"]["customer"]["first_name"] == "Ada"
    assert untagged["data"]["tag_id"] == str(dropped)
    assert untagged["data"]["tag_name"] == "Dropped"


def test_putting_the_same_tags_again_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    tag = new_tag()
    customer = add_customer(tags=(tag,))
    before = snapshot()

    response = client.put(
        f"/customers/{customer}/tags", json={"tag_ids": [str(tag)]}, headers=writer
    )

    assert response.status_code == 200
    assert response.headers["ETag"] == f'"{customer}-1"'
    assert snapshot() == before


def test_putting_an_empty_list_takes_every_tag_off(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = add_customer(tags=(new_tag(), new_tag()))

    response = client.put(f"/customers/{customer}/tags", json={"tag_ids": []}, headers=writer)

    assert response.get_json()["tags"] == []
    assert tags_of(customer) == set()
    assert len(outbox("customer.untagged", subject=customer)) == 2


def test_adding_a_tag_by_id_adds_it_once(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
    customer_row: Callable[[uuid.UUID], Customer | None],
) -> None:
    tag = new_tag("VIP")
    customer = add_customer()

    first = client.post(f"/customers/{customer}/tags", json={"tag_id": str(tag)}, headers=writer)
    second = client.post(f"/customers/{customer}/tags", json={"tag_id": str(tag)}, headers=writer)

    assert first.status_code == second.status_code == 200
    assert [item["name"] for item in second.get_json()["tags"]] == ["VIP"]
    assert len(outbox("customer.tagged", subject=customer)) == 1
    row = customer_row(customer)
    assert row is not None and row.version == 2


def test_deleting_a_tag_takes_it_off_and_deleting_it_again_is_a_no_op(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    kept, removed = new_tag("Kept"), new_tag("Removed")
    customer = add_customer(tags=(kept, removed))

    first = client.delete(f"/customers/{customer}/tags/{removed}", headers=writer)
    again = client.delete(f"/customers/{customer}/tags/{removed}", headers=writer)

    assert first.status_code == again.status_code == 200
    assert [item["name"] for item in again.get_json()["tags"]] == ["Kept"]
    assert tags_of(customer) == {kept}
    [event] = outbox("customer.untagged", subject=customer)
    assert event["data"]["tag_id"] == str(removed)
    assert again.headers["ETag"] == f'"{customer}-2"'


def test_reading_a_customers_tags_gives_them_with_the_customers_etag(
    client: FlaskClient,
    reader: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
) -> None:
    customer = add_customer(tags=(new_tag("B", order=None), new_tag("a", order=None)))

    response = client.get(f"/customers/{customer}/tags", headers=reader)

    assert response.status_code == 200
    assert [tag["name"] for tag in response.get_json()["tags"]] == ["a", "B"]
    assert response.headers["ETag"] == f'"{customer}-1"'


def test_an_existing_name_in_any_case_reuses_the_tag(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    # The tags service is down in these tests: a name customers knows needs no call to tags.
    tag = new_tag("École")
    customer = add_customer()

    response = client.post(f"/customers/{customer}/tags", json={"name": "  école "}, headers=writer)

    assert response.status_code == 200
    assert tags_of(customer) == {tag}


def test_tags_down_is_503_and_nothing_changed(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    customer = add_customer()
    before = snapshot()

    response = client.post(
        f"/customers/{customer}/tags", json={"name": "Brand new"}, headers=writer
    )

    assert response.status_code == 503
    assert "tags" in response.get_json()["message"]
    assert snapshot() == before


# --- refusals -----------------------------------------------------------------------------------
def test_a_tag_not_projected_with_the_tags_service_down_is_503_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    # Customers cannot tell a tag just created from a wrong id without the tags service
    # (tags' answers: test_read_your_writes); a projected tag needs no call.
    known = new_tag()
    customer = add_customer()
    unknown = uuid.uuid4()
    before = snapshot()

    put = client.put(
        f"/customers/{customer}/tags",
        json={"tag_ids": [str(known), str(unknown)]},
        headers=writer,
    )
    post = client.post(f"/customers/{customer}/tags", json={"tag_id": str(unknown)}, headers=writer)

    assert (put.status_code, post.status_code) == (503, 503)
    assert "tags" in put.get_json()["message"] and put.headers["Retry-After"]
    assert snapshot() == before
    known_only = client.put(
        f"/customers/{customer}/tags", json={"tag_ids": [str(known)]}, headers=writer
    )
    assert known_only.status_code == 200
    assert tags_of(customer) == {known}


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/tags", None),
        ("put", "/tags", {"tag_ids": []}),
        ("post", "/tags", {"tag_id": str(uuid.UUID(int=245))}),
        ("post", "/tags", {"name": "Nouveau"}),
        ("delete", f"/tags/{uuid.UUID(int=247)}", None),
    ],
)
def test_an_unknown_customer_is_404(
    client: FlaskClient,
    deleter: dict[str, str],
    snapshot: Callable[[], Snapshot],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    before = snapshot()

    response = getattr(client, method)(
        f"/customers/{uuid.uuid4()}{path}", json=body, headers=deleter
    )

    assert response.status_code == 404
    assert "no customer" in response.get_json()["message"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/tags", {"tag_ids": []}),
        ("post", "/tags", None),
        ("delete", "/tags/{tag}", None),
    ],
)
def test_a_stale_if_match_is_412_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    tag, other = new_tag(), new_tag()
    customer = add_customer(tags=(tag,))
    before = snapshot()
    stale = {**writer, "If-Match": f'"{customer}-7"'}

    response = getattr(client, method)(
        f"/customers/{customer}{path.format(tag=tag)}",
        json=body or {"tag_id": str(other)},
        headers=stale,
    )

    assert response.status_code == 412
    assert response.headers["ETag"] == f'"{customer}-1"'
    assert snapshot() == before


def test_the_current_if_match_is_accepted(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
) -> None:
    customer = add_customer()
    headers = {**writer, "If-Match": f'"{customer}-1"'}

    response = client.post(
        f"/customers/{customer}/tags", json={"tag_id": str(new_tag())}, headers=headers
    )

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("put", "/tags", {"tag_ids": []}),
        ("post", "/tags", {"tag_id": str(uuid.UUID(int=323))}),
        ("delete", f"/tags/{uuid.UUID(int=324)}", None),
    ],
)
def test_changing_tags_needs_customers_write(
    client: FlaskClient,
    reader: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    customer = add_customer()

    refused = getattr(client, method)(f"/customers/{customer}{path}", json=body, headers=reader)
    anonymous = getattr(client, method)(f"/customers/{customer}{path}", json=body)

    assert refused.status_code == 403
    assert anonymous.status_code == 401


def test_reading_tags_needs_customers_read(
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
    add_customer: Callable[..., uuid.UUID],
) -> None:
    customer = add_customer()

    response = client.get(f"/customers/{customer}/tags", headers=make_token("tags:write"))

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "tag_id"),
        ({"tag_id": str(uuid.UUID(int=360)), "name": "Both"}, "name"),
        ({"tag_id": "not-a-uuid"}, "tag_id"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"tag_id": str(uuid.UUID(int=365)), "color": "#fff"}, "color"),
    ],
)
def test_a_bad_body_to_add_a_tag_is_422_on_its_field(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
    body: dict[str, Any],
    field: str,
) -> None:
    customer = add_customer()
    before = snapshot()

    response = client.post(f"/customers/{customer}/tags", json=body, headers=writer)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "tag_ids"),
        ({"tag_ids": "x"}, "tag_ids"),
        ({"tag_ids": ["nope"]}, "tag_ids"),
        ({"tag_ids": [str(uuid.UUID(int=n)) for n in range(101)]}, "tag_ids"),
    ],
)
def test_a_bad_body_to_replace_tags_is_422_on_its_field(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
    body: dict[str, Any],
    field: str,
) -> None:
    customer = add_customer()
    before = snapshot()

    response = client.put(f"/customers/{customer}/tags", json=body, headers=writer)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_a_rule_can_tag_a_customer_inside_its_own_unit_of_work(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    tag, customer = new_tag("Rule tag"), add_customer()

    with app.extensions["crm"].uow() as uow:
        change_tags(uow, customer, add=[tag], reason="rule:first-payment")
        uow.commit()

    assert tags_of(customer) == {tag}
    [event] = outbox("customer.tagged", subject=customer)
    assert event["data"]["reason"] == "rule:first-payment"
