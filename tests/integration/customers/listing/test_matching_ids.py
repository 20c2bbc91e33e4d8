"""`matching_ids`, what bulk actions and exports select with, agrees with the list."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from services.customers.listing.filters import (
    CustomerFilterSchema,
    SegmentError,
    UnknownSegment,
    matching_ids,
)
from services.customers.models import Segment
from shared.db import utcnow

AddCustomer = Callable[..., uuid.UUID]


@pytest.fixture
def population(add_customer: AddCustomer, add_tag: Callable[..., uuid.UUID]) -> list[uuid.UUID]:
    """A few customers spread over cities, statuses, tags and lists; the tag ids."""
    tags = [add_tag("red"), add_tag("blue")]
    cities = ["Paris", "Lyon", "paris"]
    statuses = ["lead", "vip", "active"]
    for index in range(18):
        add_customer(
            last_name=f"Person{index}",
            address_city=cities[index % 3],
            status=statuses[index % 3 - 1],
            is_supplier=index % 4 == 0,
            tags=tuple(tags[: index % 3]),
            lists=("weekly",) if index % 2 else (),
            phones=(f"+3361234{index:04d}",),
        )
    return tags


def selected(app: Flask, params: dict[str, Any]) -> set[str]:
    with app.extensions["crm"].session_factory() as session:
        return {str(row) for row in session.scalars(matching_ids(session, params))}


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"city": "PARIS"},
        {"status": "vip", "is_supplier": "false"},
        {"tags_match": "all"},
        {"newsletter_list": "weekly", "q": "person1"},
        {"q": "0612340003"},
    ],
)
def test_matching_ids_selects_what_every_page_of_the_list_shows(
    app: Flask,
    population: list[uuid.UUID],
    list_ids: Callable[..., list[str]],
    raw: dict[str, Any],
) -> None:
    raw = {**raw, "tag": [str(tag) for tag in population]} if "tags_match" in raw else raw
    query = [
        (key, value)
        for key, values in raw.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    params = CustomerFilterSchema().load(raw)

    listed = set(list_ids([*query, ("limit", "500")]))

    assert selected(app, params) == listed
    assert listed


def test_matching_ids_resolves_a_segment_and_ands_it(
    app: Flask, population: list[uuid.UUID], list_ids: Callable[..., list[str]]
) -> None:
    segment_id = uuid.uuid4()
    with app.extensions["crm"].session_factory() as session:
        session.add(
            Segment(
                id=segment_id,
                name="vip",
                name_key="vip",
                filter={"status": "vip"},
                version=1,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        session.commit()

    chosen = selected(app, {"segment": segment_id, "city": "PARIS"})

    assert chosen == set(list_ids(status="vip", city="paris"))
    assert chosen


def test_matching_ids_refuses_an_unknown_segment(app: Flask) -> None:
    with pytest.raises(UnknownSegment), app.extensions["crm"].session_factory() as session:
        matching_ids(session, {"segment": uuid.uuid4()})


def test_a_stored_filter_that_no_longer_loads_is_a_segment_error(app: Flask) -> None:
    segment_id = uuid.uuid4()
    with app.extensions["crm"].session_factory() as session:
        session.add(
            Segment(
                id=segment_id,
                name="old",
                name_key="old",
                filter={"retired_field": 1},
                version=1,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        session.commit()
        with pytest.raises(SegmentError, match="no longer valid"):
            matching_ids(session, {"segment": segment_id})
