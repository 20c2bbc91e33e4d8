"""Custom field values on customers: every type checked on create and edit, 422 naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.integration.customers.fields.conftest import AdminApi

pytestmark = pytest.mark.needs_postgres


def _errors(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.get_json()
    return dict(response.get_json()["errors"]["json"]["custom_fields"])


@pytest.mark.parametrize(
    ("type", "options", "good", "stored", "bad"),
    [
        ("text", [], "  Paris 15e ", "Paris 15e", 42),
        ("number", [], 12.5, 12.5, "12"),
        ("number", [], 7, 7, True),
        ("date", [], "2024-05-31", "2024-05-31", "31/05/2024"),
        ("boolean", [], True, True, "yes"),
        ("choice", ["silver", "gold"], "Gold", "gold", "bronze"),
    ],
)
def test_each_type_takes_its_values_and_refuses_others_naming_the_field(
    api: AdminApi,
    type: str,
    options: list[str],
    good: Any,
    stored: Any,
    bad: Any,
) -> None:
    api.define("extra", type, options=options)
    created = api.create(custom_fields={"extra": good})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["custom_fields"] == {"extra": stored}
    errors = _errors(api.create(email="other@example.com", custom_fields={"extra": bad}))
    assert list(errors) == ["extra"]


def test_an_unknown_key_is_a_422(api: AdminApi) -> None:
    api.define("loyalty")
    assert "nope" in _errors(api.create(custom_fields={"nope": "x"}))


def test_a_field_of_the_other_kind_is_a_422(api: AdminApi) -> None:
    api.define("employees", "number", kinds=["company"])
    assert "employees" in _errors(api.create(custom_fields={"employees": 3}))


def test_a_required_field_missing_on_create_is_a_422(api: AdminApi) -> None:
    api.define("contract", required=True)
    assert "contract" in _errors(api.create())
    assert api.create(custom_fields={"contract": "C-1"}).status_code == 201


def test_a_required_field_applies_to_its_kinds_only(api: AdminApi) -> None:
    api.define("siret", kinds=["company"], required=True)
    assert api.create().status_code == 201


def test_a_nested_value_is_a_422(api: AdminApi) -> None:
    api.define("loyalty")
    assert "loyalty" in _errors(api.create(custom_fields={"loyalty": {"level": 1}}))


def test_control_characters_in_a_value_are_a_422(api: AdminApi) -> None:
    api.define("loyalty")
    response = api.create(custom_fields={"loyalty": "gold\x00"})
    assert response.status_code == 422
    assert "custom_fields" in response.get_json()["errors"]["json"]


def test_patch_merges_values_and_null_removes_one(api: AdminApi) -> None:
    api.define("loyalty")
    api.define("visits", "number")
    customer = api.create(custom_fields={"loyalty": "gold", "visits": 3}).get_json()
    url = f"/customers/{customer['id']}"
    response = api.patch(url, {"custom_fields": {"visits": 4}})
    assert response.get_json()["custom_fields"] == {"loyalty": "gold", "visits": 4}
    response = api.patch(url, {"custom_fields": {"loyalty": None}})
    assert response.get_json()["custom_fields"] == {"visits": 4}
    bad = api.patch(url, {"custom_fields": {"visits": "many"}})
    assert "visits" in _errors(bad)
    assert api.get(url).get_json()["custom_fields"] == {"visits": 4}


def test_a_required_value_cannot_be_removed(api: AdminApi) -> None:
    api.define("contract", required=True)
    customer = api.create(custom_fields={"contract": "C-1"}).get_json()
    response = api.patch(f"/customers/{customer['id']}", {"custom_fields": {"contract": None}})
    assert "contract" in _errors(response)


def test_a_kind_change_refuses_values_the_new_kind_has_no_field_for(api: AdminApi) -> None:
    api.define("hobby", kinds=["individual"])
    customer = api.create(custom_fields={"hobby": "chess"}).get_json()
    url = f"/customers/{customer['id']}"
    body = {"kind": "company", "company_name": "Acme"}
    assert "hobby" in _errors(api.patch(url, body))
    body["custom_fields"] = {"hobby": None}
    assert api.patch(url, body).status_code == 200


def test_custom_field_changes_are_part_of_customer_updated(
    api: AdminApi,
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    api.define("loyalty")
    customer = api.create().get_json()
    api.patch(f"/customers/{customer['id']}", {"custom_fields": {"loyalty": "gold"}})
    events = outbox("customer.updated")
    assert [event["data"]["changed"] for event in events] == [["custom_fields"]]


def test_a_merge_keeps_the_survivors_values_and_takes_the_duplicates_others(
    api: AdminApi,
    client: FlaskClient,
    make_token: Callable[..., dict[str, str]],
) -> None:
    api.define("loyalty")
    api.define("visits", "number")
    survivor = api.create(email="a@example.com", custom_fields={"loyalty": "gold"}).get_json()
    duplicate = api.create(
        email="b@example.com", custom_fields={"loyalty": "silver", "visits": 4}
    ).get_json()
    headers = make_token("customers:read", "customers:write", "customers:delete")
    merged = client.post(
        f"/customers/{survivor['id']}/merge",
        json={"duplicate_id": duplicate["id"]},
        headers=headers,
    )
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["custom_fields"] == {"loyalty": "gold", "visits": 4}
