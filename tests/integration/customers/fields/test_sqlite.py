"""Custom fields on SQLite, as the embedded mode runs them: values, filters, removal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask.testing import FlaskClient

from tests.integration.customers.fields.test_filters import check_every_type, make_people
from tests.integration.customers.listing.test_sqlite import app

__all__ = ["app"]  # a fixture: the customers app on a fresh, migrated SQLite file


def test_values_filters_and_removal_work_on_sqlite(
    client: FlaskClient,
    admin: dict[str, str],
    define: Callable[..., Any],
    create: Callable[..., Any],
) -> None:
    made = make_people(define, create)
    names = {customer_id: name for name, customer_id in made.items()}

    def ids(query: str) -> set[str]:
        response = client.get(f"/customers?{query}", headers=admin)
        assert response.status_code == 200, response.get_json()
        return {names[item["id"]] for item in response.get_json()["items"]}

    check_every_type(ids)
    assert client.delete("/customers/fields/loyalty", headers=admin).status_code == 204
    answer = client.get(f"/customers/{made['ann']}", headers=admin).get_json()
    assert answer["custom_fields"] == {"visits": 12.5, "vip": True, "since": "2024-05-31"}
    assert ids("cf.visits=3") == {"bob", "cid"}
