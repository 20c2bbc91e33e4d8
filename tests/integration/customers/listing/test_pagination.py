"""`GET /customers` pages: keyset order, no skip or repeat under inserts, a few queries a page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event

AddCustomer = Callable[..., uuid.UUID]


def fetch_all(
    client: FlaskClient,
    headers: dict[str, str],
    between: Callable[[int], None] | None = None,
    **params: Any,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of a list; `between(n)` runs after page n. The ids, and each page's body."""
    ids: list[str] = []
    bodies: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/customers", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        bodies.append(body)
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids, bodies
        assert len(bodies) < 100, "the pages never end"
        if between is not None:
            between(len(bodies))


def test_the_list_is_newest_first_by_default_and_oldest_first_when_asked(
    add_customer: AddCustomer, list_ids: Callable[..., list[str]]
) -> None:
    created = [str(add_customer()) for _ in range(4)]

    assert list_ids() == created[::-1]
    assert list_ids(sort="-created_at") == created[::-1]
    assert list_ids(sort="created_at") == created


def test_customers_created_at_the_same_instant_are_ordered_by_id_across_pages(
    add_customer: AddCustomer, client: FlaskClient, reader: dict[str, str]
) -> None:
    instant = datetime(2024, 1, 1, tzinfo=UTC)
    same = sorted(str(add_customer(created_at=instant)) for _ in range(7))

    ids, _ = fetch_all(client, reader, limit=2, sort="created_at")

    assert ids == same


@pytest.mark.parametrize("sort", ["name", "-name"])
def test_sort_by_name_pages_through_last_name_then_first_name(
    add_customer: AddCustomer, client: FlaskClient, reader: dict[str, str], sort: str
) -> None:
    people = [("Zoé", "Martin"), ("Anne", "Martin"), ("Bob", "Adams"), ("Carl", "Zola")]
    made = {add_customer(first_name=first, last_name=last): (last, first) for first, last in people}
    acme = add_customer(kind="company", company_name="Dubois SA")
    made[acme] = ("dubois sa", "")
    expected = [
        str(key)
        for key, _ in sorted(
            made.items(), key=lambda item: item[1][0].lower() + " " + item[1][1].lower()
        )
    ]

    ids, _ = fetch_all(client, reader, limit=2, sort=sort)

    assert ids == (expected if sort == "name" else expected[::-1])


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "name", "-name"])
def test_no_customer_is_skipped_or_repeated_while_others_are_inserted_between_pages(
    add_customer: AddCustomer, client: FlaskClient, reader: dict[str, str], sort: str
) -> None:
    names = iter(f"name{index:03d}" for index in range(1000))
    existing = {str(add_customer(last_name=next(names))) for _ in range(23)}
    inserted: set[str] = set()

    def insert_more(_page: int) -> None:
        inserted.update(str(add_customer(last_name=next(names))) for _ in range(3))
        # Before the cursor too (an older creation time, a name earlier in the alphabet).
        inserted.add(
            str(add_customer(last_name="aaa", created_at=datetime(2000, 1, 1, tzinfo=UTC)))
        )

    ids, _ = fetch_all(client, reader, insert_more, limit=5, sort=sort)

    assert len(ids) == len(set(ids)), "a customer appeared twice"
    assert existing <= set(ids), "a customer that existed all along was skipped"
    assert set(ids) <= existing | inserted


def test_next_cursor_is_null_on_the_last_page_even_when_it_is_full(
    add_customer: AddCustomer, client: FlaskClient, reader: dict[str, str]
) -> None:
    for _ in range(6):
        add_customer()

    ids, bodies = fetch_all(client, reader, limit=3)

    assert len(ids) == 6
    assert [len(body["items"]) for body in bodies] == [3, 3]
    assert bodies[-1]["next_cursor"] is None


def test_an_empty_list_is_one_page_without_cursor(
    client: FlaskClient, reader: dict[str, str]
) -> None:
    response = client.get("/customers", headers=reader)

    assert response.status_code == 200
    assert response.get_json() == {"items": [], "next_cursor": None}


def test_the_default_page_holds_fifty_customers(
    add_customer: AddCustomer, client: FlaskClient, reader: dict[str, str]
) -> None:
    for _ in range(51):
        add_customer()

    body = client.get("/customers", headers=reader).get_json()

    assert len(body["items"]) == 50
    assert body["next_cursor"] is not None


def test_filters_apply_on_every_page(
    add_customer: AddCustomer, client: FlaskClient, reader: dict[str, str]
) -> None:
    parisians = {str(add_customer(address_city="Paris")) for _ in range(7)}
    for _ in range(7):
        add_customer(address_city="Lyon")

    ids, _ = fetch_all(client, reader, limit=3, city="Paris")

    assert set(ids) == parisians
    assert len(ids) == 7


@contextmanager
def counting_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.extensions["crm"].engine

    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _count)


def test_a_page_costs_the_same_few_queries_whatever_its_size(
    app: Flask,
    add_customer: AddCustomer,
    add_tag: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    tags = [add_tag(f"tag{index}", order=index) for index in range(3)]
    for index in range(40):
        add_customer(
            phones=("+33612345678", "+33112345678"), lists=("a", "b"), tags=tags[: index % 4]
        )

    with counting_queries(app) as small:
        assert client.get("/customers?limit=2", headers=reader).status_code == 200
    with counting_queries(app) as large:
        body = client.get("/customers?limit=40", headers=reader).get_json()

    assert len(large) == len(small) <= 5
    assert all(len(item["phones"]) == 2 for item in body["items"])
    assert {len(item["tags"]) for item in body["items"]} == {0, 1, 2, 3}


def test_tags_of_a_listed_customer_come_by_order_then_name_with_their_colours(
    add_customer: AddCustomer,
    add_tag: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    unordered = add_tag("alpha", order=None, color="#000000")
    second = add_tag("zeta", order=2, color="#222222")
    first = add_tag("omega", order=1, color="#111111")
    add_customer(tags=(unordered, second, first))

    item = client.get("/customers", headers=reader).get_json()["items"][0]

    assert [(tag["name"], tag["color"], tag["order"]) for tag in item["tags"]] == [
        ("omega", "#111111", 1),
        ("zeta", "#222222", 2),
        ("alpha", "#000000", None),
    ]


def test_a_listed_customer_is_answered_as_reading_it_alone_answers_it(
    add_customer: AddCustomer,
    add_tag: Callable[..., uuid.UUID],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    tag = add_tag("vip", order=1, color="#aa0000")
    customer_id = add_customer(
        kind="company",
        company_name="Acme",
        email="hello@acme.example",
        address_city="Lyon",
        address_country="FR",
        language="fr_BE",
        is_supplier=True,
        source_channel="fair",
        phones=("+33612345678", "+33145678901"),
        lists=("weekly", "offers"),
        tags=(tag,),
        billing={"legal_name": "Acme SAS", "vat_number": None, "fiscal_code": None},
    )

    listed = client.get("/customers", headers=reader).get_json()["items"]
    alone = client.get(f"/customers/{customer_id}", headers=reader)

    assert alone.status_code == 200
    assert listed == [alone.get_json()]
