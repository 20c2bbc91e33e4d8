"""`cf.<key>=<value>` filters: the list and saved filters (segments) on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

Ids = Callable[..., set[str]]


@pytest.fixture
def people(define: Callable[..., Any], create: Callable[..., Any]) -> dict[str, str]:
    """Four customers with values of each type, by name."""
    return make_people(define, create)


def make_people(define: Callable[..., Any], create: Callable[..., Any]) -> dict[str, str]:
    """Defines a field of each type and creates four customers with values, by name."""
    define("loyalty", "choice", options=["silver", "gold"])
    define("visits", "number")
    define("vip", "boolean")
    define("since", "date")
    define("city_code")
    values = {
        "ann": {"loyalty": "gold", "visits": 12.5, "vip": True, "since": "2024-05-31"},
        "bob": {"loyalty": "silver", "visits": 3, "vip": False, "city_code": "P15"},
        "cid": {"loyalty": "gold", "visits": 3, "since": "2023-01-01", "city_code": "p15"},
        "dan": {},
    }
    made = {}
    for name, fields in values.items():
        response = create(first_name=name, email=f"{name}@example.com", custom_fields=fields)
        assert response.status_code == 201, response.get_json()
        made[name] = response.get_json()["id"]
    return made


@pytest.fixture
def ids(client: FlaskClient, admin: dict[str, str], people: dict[str, str]) -> Ids:
    names = {customer_id: name for name, customer_id in people.items()}

    def _ids(query: str) -> set[str]:
        response = client.get(f"/customers?{query}", headers=admin)
        assert response.status_code == 200, response.get_json()
        return {names[item["id"]] for item in response.get_json()["items"]}

    return _ids


def check_every_type(ids: Ids) -> None:
    """Filters on each type give the customers `make_people` made with that value."""
    assert ids("cf.loyalty=gold") == {"ann", "cid"}
    assert ids("cf.loyalty=GOLD") == {"ann", "cid"}
    assert ids("cf.visits=3") == {"bob", "cid"}
    assert ids("cf.visits=12,5") == {"ann"}
    assert ids("cf.vip=true") == {"ann"}
    assert ids("cf.vip=non") == {"bob"}
    assert ids("cf.since=31/05/2024") == {"ann"}
    assert ids("cf.since=2023-01-01") == {"cid"}
    assert ids("cf.city_code=P15") == {"bob"}
    assert ids("cf.loyalty=gold&cf.visits=3") == {"cid"}
    assert ids("cf.loyalty=gold&kind=company") == set()


@pytest.mark.needs_postgres
def test_each_type_filters_the_list_on_postgresql(ids: Ids) -> None:
    check_every_type(ids)


@pytest.mark.needs_postgres
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cf.nope=1", "cf.nope"),
        ("cf.visits=many", "cf.visits"),
        ("cf.loyalty=bronze", "cf.loyalty"),
        ("cf.Bad-Key=1", "cf"),
        ("cf.loyalty=%01", "cf"),
    ],
)
def test_a_bad_custom_field_filter_is_a_422_naming_it(
    client: FlaskClient, admin: dict[str, str], people: dict[str, str], query: str, field: str
) -> None:
    response = client.get(f"/customers?{query}", headers=admin)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["query"]


@pytest.mark.needs_postgres
def test_a_segment_keeps_custom_field_filters(
    client: FlaskClient, admin: dict[str, str], ids: Ids
) -> None:
    body = {"name": "Gold", "filter": {"cf.loyalty": "gold", "cf.visits": "3"}}
    response = client.post("/customers/segments", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    segment = response.get_json()
    assert segment["filter"] == {"cf.loyalty": "gold", "cf.visits": "3"}
    assert ids(f"segment={segment['id']}") == {"cid"}


@pytest.mark.needs_postgres
@pytest.mark.parametrize(
    ("filter", "field"),
    [({"cf.nope": "1"}, "filter.cf.nope"), ({"cf.visits": "many"}, "filter.cf.visits")],
)
def test_a_segment_naming_a_bad_custom_field_filter_is_refused_when_saved(
    client: FlaskClient,
    admin: dict[str, str],
    people: dict[str, str],
    filter: dict[str, str],
    field: str,
) -> None:
    body = {"name": "Bad", "filter": filter}
    response = client.post("/customers/segments", json=body, headers=admin)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]
    good = client.post("/customers/segments", json={"name": "Ok", "filter": {}}, headers=admin)
    patched = client.patch(
        f"/customers/segments/{good.get_json()['id']}", json={"filter": filter}, headers=admin
    )
    assert patched.status_code == 422
    assert field in patched.get_json()["errors"]["json"]
