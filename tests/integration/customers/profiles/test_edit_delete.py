"""Reading, editing and deleting customers: ETags, manual status changes, events."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.customers.models import Customer

pytestmark = pytest.mark.needs_postgres


def test_an_unknown_customer_is_a_404(client: FlaskClient, reader: dict[str, str]) -> None:
    response = client.get(f"/customers/{uuid.uuid4()}", headers=reader)

    assert response.status_code == 404


def test_a_customer_shows_its_tags_by_order_then_name(
    client: FlaskClient,
    reader: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    tag: Callable[..., uuid.UUID],
    apply_tag: Callable[[str, uuid.UUID], None],
) -> None:
    customer = new_customer()
    zebra, alpha, second = tag("zèbre"), tag("Alpha"), tag("Second", order=2, color="#ff0000")
    first = tag("Premier", order=1)
    for tag_id in (zebra, alpha, second, first):
        apply_tag(customer["id"], tag_id)

    tags = client.get(f"/customers/{customer['id']}", headers=reader).get_json()["tags"]

    assert [t["name"] for t in tags] == ["Premier", "Second", "Alpha", "zèbre"]
    assert tags[1] == {"id": str(second), "name": "Second", "color": "#ff0000", "order": 2}


def test_a_tag_not_yet_in_the_local_catalogue_shows_by_id(
    client: FlaskClient,
    reader: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    apply_tag: Callable[[str, uuid.UUID], None],
) -> None:
    customer = new_customer()
    unknown = uuid.uuid4()
    apply_tag(customer["id"], unknown)

    tags = client.get(f"/customers/{customer['id']}", headers=reader).get_json()["tags"]

    assert tags == [{"id": str(unknown), "name": None, "color": None, "order": None}]


def test_editing_changes_the_fields_given_and_writes_customer_updated(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
    stored: Callable[[str], Customer | None],
) -> None:
    customer = new_customer(email="jeanne@example.com", notes="old")

    response = client.patch(
        f"/customers/{customer['id']}",
        json={
            "last_name": "Durand",
            "language": "FR_ch",
            "notes": None,
            "email": "J.Durand@Example.com",
        },
        headers=writer,
    )

    assert response.status_code == 200, response.get_json()
    edited = response.get_json()
    assert response.headers["ETag"] == f'"{customer["id"]}-2"'
    assert (edited["last_name"], edited["language"], edited["notes"]) == ("Durand", "fr_CH", None)
    assert edited["first_name"] == "Jeanne"
    [event] = outbox("customer.updated", subject=customer["id"])
    assert event["data"] == {
        "customer_id": customer["id"],
        "changed": ["last_name", "language", "notes", "email"],
        "customer": {
            "email": "J.Durand@example.com",
            "language": "fr_CH",
            "first_name": "Jeanne",
            "last_name": "Durand",
            "company_name": None,
            "email_consent": False,
            "newsletter_subscribed": False,
        },
    }
    row = stored(customer["id"])
    assert row is not None
    assert (row.sort_name, row.email_key) == ("durand jeanne", "j.durand@example.com")
    assert "durand" in row.search_text


def test_objects_are_merged_and_null_clears_them(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer(
        address={"street": "1 rue A", "city": "Paris", "country": "FR"},
        billing={"legal_name": "J. Martin", "vat_number": "FR40303265045"},
        source={"channel": "web"},
    )

    edited = client.patch(
        f"/customers/{customer['id']}",
        json={"address": {"city": "Lyon"}, "billing": {"fiscal_code": "X1"}, "source": None},
        headers=writer,
    ).get_json()

    assert edited["address"] == {
        "street": "1 rue A",
        "postal_code": None,
        "city": "Lyon",
        "region": None,
        "country": "FR",
    }
    assert edited["billing"]["legal_name"] == "J. Martin"
    assert edited["billing"]["vat_number"] == "FR40303265045"
    assert edited["billing"]["fiscal_code"] == "X1"
    assert set(edited["source"].values()) == {None}


def test_a_vat_number_without_prefix_takes_the_billing_country(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer(address={"country": "DE"})

    response = client.patch(
        f"/customers/{customer['id']}",
        json={"billing": {"vat_number": "40303265045", "address": {"country": "FR"}}},
        headers=writer,
    )

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["billing"]["vat_number"] == "FR40303265045"


def test_an_edit_that_changes_nothing_keeps_the_version_and_writes_no_event(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = new_customer()

    response = client.patch(
        f"/customers/{customer['id']}", json={"first_name": " Jeanne "}, headers=writer
    )

    assert response.headers["ETag"] == f'"{customer["id"]}-1"'
    assert outbox("customer.updated") == []


def test_a_stale_if_match_is_a_412_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    counts: Callable[[], dict[str, int]],
) -> None:
    customer = new_customer()
    client.patch(f"/customers/{customer['id']}", json={"first_name": "Jo"}, headers=writer)
    before = counts()

    response = client.patch(
        f"/customers/{customer['id']}",
        json={"first_name": "Jeanine"},
        headers={**writer, "If-Match": f'"{customer["id"]}-1"'},
    )

    assert response.status_code == 412
    assert response.headers["ETag"] == f'"{customer["id"]}-2"'
    assert counts() == before
    assert (
        client.get(f"/customers/{customer['id']}", headers=writer).get_json()["first_name"] == "Jo"
    )


def test_a_current_if_match_is_accepted(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer()

    response = client.patch(
        f"/customers/{customer['id']}",
        json={"first_name": "Jo"},
        headers={**writer, "If-Match": f'"{customer["id"]}-1"'},
    )

    assert response.status_code == 200


def test_a_status_in_an_edit_is_a_manual_status_change(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    customer = new_customer()

    response = client.patch(f"/customers/{customer['id']}", json={"status": "vip"}, headers=writer)

    assert response.status_code == 200
    assert response.get_json()["status"] == "vip"
    [event] = outbox("customer.status_changed", subject=customer["id"])
    assert (event["data"]["from"], event["data"]["to"], event["data"]["reason"]) == (
        "lead",
        "vip",
        "manual",
    )
    assert outbox("customer.updated") == []


BAD_EDITS: list[tuple[dict[str, Any], str]] = [
    ({"status": "gold"}, "status"),
    ({"status": None}, "status"),
    ({"kind": "company"}, "company_name"),
    ({"first_name": None, "last_name": None}, "first_name"),
    ({"kind": None}, "kind"),
    ({"email": "nope"}, "email"),
    ({"phones": [{"number": "0"}]}, "phones"),
    ({"billing": {"vat_number": "DE000"}}, "billing"),
    ({"birth_date": "3000-01-01"}, "birth_date"),
    ({"language": "zz"}, "language"),
    ({"discount_percent": 101}, "discount_percent"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"tags": [{"id": str(uuid.uuid4())}]}, "tags"),
    ({"login": {"enabled": True}}, "login"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
    ({"updated_at": "2020-01-01T00:00:00Z"}, "updated_at"),
    ({"nickname": "Jo"}, "nickname"),
    ({"phones": None}, "phones"),
    ({"email_consent": None}, "email_consent"),
]


@pytest.mark.parametrize(("body", "field"), BAD_EDITS)
def test_invalid_edits_are_refused_with_a_422_naming_the_field_and_change_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    counts: Callable[[], dict[str, int]],
    body: dict[str, Any],
    field: str,
) -> None:
    customer = new_customer(phones=[{"number": "+33612345678"}])
    before = counts()

    response = client.patch(f"/customers/{customer['id']}", json=body, headers=writer)

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert counts() == before
    assert client.get(f"/customers/{customer['id']}", headers=writer).get_json() == customer


def test_editing_to_another_customers_email_is_a_409(
    client: FlaskClient,
    writer: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    counts: Callable[[], dict[str, int]],
) -> None:
    other = new_customer(email="other@example.com")
    customer = new_customer(email="me@example.com")
    before = counts()

    response = client.patch(
        f"/customers/{customer['id']}", json={"email": "Other@Example.com"}, headers=writer
    )

    assert response.status_code == 409
    assert other["id"] in response.get_json()["message"]
    assert counts() == before


def test_a_customer_may_change_the_case_of_its_own_email(
    client: FlaskClient, writer: dict[str, str], new_customer: Callable[..., dict[str, Any]]
) -> None:
    customer = new_customer(email="me@example.com")

    response = client.patch(
        f"/customers/{customer['id']}", json={"email": "Me@example.com"}, headers=writer
    )

    assert response.status_code == 200
    assert response.get_json()["email"] == "Me@example.com"


def test_editing_an_unknown_customer_is_a_404(client: FlaskClient, writer: dict[str, str]) -> None:
    response = client.patch(f"/customers/{uuid.uuid4()}", json={"notes": "x"}, headers=writer)

    assert response.status_code == 404


def test_deleting_removes_the_customer_and_writes_customer_deleted_with_its_tags(
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    tag: Callable[..., uuid.UUID],
    apply_tag: Callable[[str, uuid.UUID], None],
    outbox: Callable[..., list[dict[str, Any]]],
    counts: Callable[[], dict[str, int]],
) -> None:
    customer = new_customer(
        phones=[{"number": "+33612345678"}], newsletter_lists=["promos"], email="a@example.com"
    )
    vip, lost = tag("VIP"), tag("Lost")
    apply_tag(customer["id"], vip)
    apply_tag(customer["id"], lost)

    response = client.delete(
        f"/customers/{customer['id']}", headers={**admin, "If-Match": f'"{customer["id"]}-1"'}
    )

    assert response.status_code == 204
    assert client.get(f"/customers/{customer['id']}", headers=admin).status_code == 404
    [event] = outbox("customer.deleted", subject=customer["id"])
    assert event["data"] == {
        "customer_id": customer["id"],
        "tag_ids": sorted([str(vip), str(lost)]),
    }
    remaining = counts()
    assert {k: v for k, v in remaining.items() if k != "outbox"} == dict.fromkeys(
        ["customers", "phones", "newsletter_lists", "tags", "consent_records", "avatars"], 0
    )
    # The address is free again.
    assert new_customer(email="A@example.com")["email"] == "A@example.com"


def test_deleting_with_a_stale_if_match_is_a_412_and_deletes_nothing(
    client: FlaskClient,
    admin: dict[str, str],
    new_customer: Callable[..., dict[str, Any]],
    counts: Callable[[], dict[str, int]],
) -> None:
    customer = new_customer()
    before = counts()

    response = client.delete(
        f"/customers/{customer['id']}", headers={**admin, "If-Match": f'"{customer["id"]}-7"'}
    )

    assert response.status_code == 412
    assert counts() == before


def test_deleting_an_unknown_customer_is_a_404(client: FlaskClient, admin: dict[str, str]) -> None:
    assert client.delete(f"/customers/{uuid.uuid4()}", headers=admin).status_code == 404
