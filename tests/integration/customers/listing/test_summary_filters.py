"""List filters on the summary (C11): purchases, revenue in a currency, last action; in segments
too. The summary is the timeline's, fed here by events through the real handlers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.customers.timeline.conftest import deliver, event, purchase

__all__ = ["deliver"]  # a fixture: events through the customers handlers, as the consumer does

pytestmark = pytest.mark.needs_postgres


@pytest.fixture
def shoppers(
    add_customer: Callable[..., uuid.UUID], deliver: Callable[..., None]
) -> dict[str, uuid.UUID]:
    """Four customers: two purchases in EUR; one in USD; a support request only; nothing."""
    made = {name: add_customer(last_name=name) for name in ("ann", "bob", "cid", "dan")}
    deliver(
        purchase(made["ann"], "60.00", time="2026-03-01T10:00:00Z"),
        purchase(made["ann"], "50.50", time="2026-05-01T10:00:00Z"),
        purchase(made["bob"], "500", currency="USD", time="2026-01-15T08:00:00Z"),
        event(
            "support.request.created",
            {"customer_id": str(made["cid"]), "request_id": "R-1", "subject": "help"},
            time="2026-06-01T00:00:00Z",
        ),
    )
    return made


def _names(
    list_ids: Callable[..., list[str]], shoppers: dict[str, uuid.UUID], **params: Any
) -> set[str]:
    names = {str(customer_id): name for name, customer_id in shoppers.items()}
    return {names[customer_id] for customer_id in list_ids(**params)}


def test_purchases_min_counts_purchases(
    list_ids: Callable[..., list[str]], shoppers: dict[str, uuid.UUID]
) -> None:
    assert _names(list_ids, shoppers, purchases_min=2) == {"ann"}
    assert _names(list_ids, shoppers, purchases_min=1) == {"ann", "bob"}
    assert _names(list_ids, shoppers, purchases_min=0) == {"ann", "bob", "cid", "dan"}


def test_revenue_min_is_in_its_currency_exactly(
    list_ids: Callable[..., list[str]], shoppers: dict[str, uuid.UUID]
) -> None:
    assert _names(list_ids, shoppers, revenue_min="110.50", revenue_currency="EUR") == {"ann"}
    assert _names(list_ids, shoppers, revenue_min="110.51", revenue_currency="eur") == set()
    assert _names(list_ids, shoppers, revenue_min="100", revenue_currency="USD") == {"bob"}


def test_last_action_before_and_after(
    list_ids: Callable[..., list[str]], shoppers: dict[str, uuid.UUID]
) -> None:
    assert _names(list_ids, shoppers, last_action_after="2026-05-01") == {"ann", "cid"}
    assert _names(list_ids, shoppers, last_action_before="2026-05-01") == {"bob"}
    assert _names(
        list_ids,
        shoppers,
        last_action_after="2026-02-01",
        last_action_before="2026-05-01T10:00:01Z",
    ) == {"ann"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"revenue_min": "10"}, "revenue_currency"),
        ({"revenue_currency": "EUR"}, "revenue_min"),
        ({"revenue_min": "-1", "revenue_currency": "EUR"}, "revenue_min"),
        ({"revenue_min": "NaN", "revenue_currency": "EUR"}, "revenue_min"),
        ({"revenue_min": "1", "revenue_currency": "EURO"}, "revenue_currency"),
        ({"purchases_min": "-1"}, "purchases_min"),
        ({"last_action_after": "yesterday"}, "last_action_after"),
    ],
)
def test_bad_summary_filters_are_a_422_naming_them(
    client: FlaskClient, reader: dict[str, str], query: dict[str, str], field: str
) -> None:
    response = client.get("/customers", query_string=query, headers=reader)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["query"]


def test_a_segment_filters_on_the_summary(
    client: FlaskClient,
    writer: dict[str, str],
    list_ids: Callable[..., list[str]],
    shoppers: dict[str, uuid.UUID],
) -> None:
    body = {
        "name": "Big spenders",
        "filter": {"purchases_min": 1, "revenue_min": "100", "revenue_currency": "eur"},
    }
    response = client.post("/customers/segments", json=body, headers=writer)
    assert response.status_code == 201, response.get_json()
    saved = response.get_json()
    assert saved["filter"] == {"purchases_min": 1, "revenue_min": "100", "revenue_currency": "EUR"}
    assert _names(list_ids, shoppers, segment=saved["id"]) == {"ann"}
