"""The list and saved filters on SQLite, as the embedded mode runs them: correct, if not fast."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.app import create_app
from shared.migrations import migrate
from tests.conftest import settings_for

AddCustomer = Callable[..., uuid.UUID]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """The customers app on a fresh SQLite file, migrated the way the embedded mode does it."""
    settings = settings_for(
        "customers", database_urls={"customers": f"sqlite:///{tmp_path / 'customers.sqlite3'}"}
    )
    migrate(settings)
    app = create_app(settings)
    yield app
    app.extensions["crm"].engine.dispose()


def test_filters_tags_and_search_work_on_sqlite(
    add_customer: AddCustomer,
    add_tag: Callable[..., uuid.UUID],
    list_ids: Callable[..., list[str]],
) -> None:
    red, blue = add_tag("red"), add_tag("blue")
    both = add_customer(
        last_name="Dupont", address_city="Paris", phones=("+33612345678",), tags=(red, blue)
    )
    add_customer(last_name="Durand", address_city="paris", tags=(red,), lists=("weekly",))
    add_customer(last_name="Martin", address_city="Lyon", status="vip", language="fr_BE")

    assert list_ids(q="06 12 34 56 78") == [str(both)]
    assert list_ids(q="DUPONT") == [str(both)]
    assert len(list_ids(city="PARIS")) == 2
    assert list_ids([("tag", str(red)), ("tag", str(blue)), ("tags_match", "all")]) == [str(both)]
    assert len(list_ids(newsletter_list="weekly")) == 1
    assert len(list_ids(language="fr", status="vip")) == 1
    assert len(list_ids(created_from="2000-01-01", created_to="2999-12-31")) == 3


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "name", "-name"])
def test_keyset_pages_cover_everyone_once_on_sqlite(
    add_customer: AddCustomer, client: FlaskClient, reader: dict[str, str], sort: str
) -> None:
    made = {str(add_customer(last_name=f"n{index % 4}")) for index in range(11)}
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": 3, "sort": sort, **({"cursor": cursor} if cursor else {})}
        body = client.get("/customers", query_string=query, headers=reader).get_json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted(made)


def test_segments_work_on_sqlite(
    add_customer: AddCustomer,
    client: FlaskClient,
    writer: dict[str, str],
    list_ids: Callable[..., list[str]],
) -> None:
    vip = add_customer(status="vip")
    add_customer(status="lead")
    created = client.post(
        "/customers/segments", json={"name": "VIP", "filter": {"status": "vip"}}, headers=writer
    )
    duplicate = client.post(
        "/customers/segments", json={"name": "vip", "filter": {}}, headers=writer
    )

    assert created.status_code == 201
    assert duplicate.status_code == 409
    assert list_ids(segment=created.get_json()["id"]) == [str(vip)]


def test_a_customer_reads_alike_by_id_and_in_the_list_on_sqlite(
    app: Flask,
    add_customer: AddCustomer,
    add_tag: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    # SQLite gives JSON booleans as 0/1 and UUIDs as hex: the answer must not show it.
    second, first, unordered = add_tag("b", order=2), add_tag("a", order=1), add_tag("z")
    unknown = uuid.uuid4()  # applied before its `tag.created` reached us
    customer = add_customer(
        last_name="Dupont",
        phones=("+33612345678", "+33123456789"),
        lists=("weekly", "offers"),
        tags=(unknown, unordered, second, first),
        email_consent=True,
    )

    answer = client.get(f"/customers/{customer}", headers=reader).get_json()

    assert [phone["number"] for phone in answer["phones"]] == ["+33612345678", "+33123456789"]
    assert all(phone["sms"] is False for phone in answer["phones"])
    assert answer["email_consent"] is True and answer["is_supplier"] is False
    assert answer["newsletter_lists"] == ["offers", "weekly"]
    # By order, unordered last; then by name, an unnamed (unknown) tag first.
    assert [tag["id"] for tag in answer["tags"]] == [
        str(first),
        str(second),
        str(unknown),
        str(unordered),
    ]
    assert answer["tags"][2] == {"id": str(unknown), "name": None, "color": None, "order": None}
    [listed] = client.get("/customers", headers=reader).get_json()["items"]
    assert listed == answer
