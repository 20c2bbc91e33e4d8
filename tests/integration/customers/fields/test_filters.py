"""`cf.<key>=<value>` filters: the list and saved filters (segments) on PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.app import create_app
from services.customers.models import DEFAULT_STATUSES, Status
from shared.migrations import migrate
from tests.conftest import settings_for

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


def _check_every_type(ids: Ids) -> None:
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
    _check_every_type(ids)


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


# --- SQLite (the embedded mode) -----------------------------------------------------------------
@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    settings = settings_for(
        "customers", database_urls={"customers": f"sqlite:///{tmp_path / 'customers.sqlite3'}"}
    )
    migrate(settings)
    app = create_app(settings)
    with app.extensions["crm"].session_factory() as session:
        if session.get(Status, "lead") is None:
            session.add_all(
                Status(key=key, label=label, is_default=True, position=position)
                for key, label, position in DEFAULT_STATUSES
            )
            session.commit()
    yield app
    app.extensions["crm"].engine.dispose()


@pytest.fixture
def sqlite_client(sqlite_app: Flask) -> FlaskClient:
    return sqlite_app.test_client()


def test_each_type_filters_the_list_on_sqlite(
    sqlite_client: FlaskClient, make_token: Callable[..., dict[str, str]]
) -> None:
    admin = make_token("customers:read", "customers:write", "settings:write")

    def define(key: str, type: str = "text", **fields: Any) -> dict[str, Any]:
        body = {"key": key, "label": key, "type": type, **fields}
        response = sqlite_client.post("/customers/fields", json=body, headers=admin)
        assert response.status_code == 201, response.get_json()
        return dict(response.get_json())

    def create(**fields: Any) -> Any:
        body = {"kind": "individual", "last_name": "Martin", **fields}
        return sqlite_client.post("/customers", json=body, headers=admin)

    made = make_people(define, create)
    names = {customer_id: name for name, customer_id in made.items()}

    def ids(query: str) -> set[str]:
        response = sqlite_client.get(f"/customers?{query}", headers=admin)
        assert response.status_code == 200, response.get_json()
        return {names[item["id"]] for item in response.get_json()["items"]}

    _check_every_type(ids)
    assert sqlite_client.delete("/customers/fields/loyalty", headers=admin).status_code == 204
    answer = sqlite_client.get(f"/customers/{made['ann']}", headers=admin).get_json()
    assert "loyalty" not in answer["custom_fields"] and answer["custom_fields"]["visits"] == 12.5
