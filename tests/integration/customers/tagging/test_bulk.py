"""Bulk actions done at once: on ids and on a filter, their events, and every refusal."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from services.customers.models import Customer
from tests.integration.customers.tagging.conftest import Snapshot

pytestmark = pytest.mark.needs_postgres


def bulk(client: FlaskClient, headers: dict[str, str], **body: Any) -> Any:
    """POST /customers/bulk with ids and tag ids written as strings."""
    for name in ("ids", "tag_ids"):
        if name in body:
            body[name] = [str(value) for value in body[name]]
    return client.post("/customers/bulk", json=body, headers=headers)


def test_adding_tags_by_ids_changes_only_who_lacked_them_and_emits_per_customer_and_tag(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
    customer_row: Callable[[uuid.UUID], Customer | None],
) -> None:
    vip, gold = new_tag("VIP"), new_tag("Gold")
    has_both = add_customer(tags=(vip, gold))
    has_vip = add_customer(tags=(vip,), first_name="Zoé", email="zoe@example.com")
    has_none = add_customer()
    untouched = add_customer()

    response = bulk(
        client,
        writer,
        action="add_tags",
        ids=[has_both, has_vip, has_none, uuid.uuid4()],
        tag_ids=[vip, gold],
    )

    assert response.status_code == 200
    assert response.get_json() == {"matched": 3, "changed": 2}
    assert tags_of(has_vip) == tags_of(has_none) == {vip, gold}
    assert tags_of(untouched) == set()
    events = outbox("customer.tagged")
    assert sorted((e["subject"], e["data"]["tag_id"]) for e in events) == sorted(
        [(str(has_vip), str(gold)), (str(has_none), str(vip)), (str(has_none), str(gold))]
    )
    [zoe] = [e for e in events if e["subject"] == str(has_vip)]
    assert zoe["data"]["tag_name"] == "Gold"
    assert zoe["data"]["reason"] == "manual"
    assert zoe["data"]["customer"]["first_name"] == "Zoé"
    assert zoe["data"]["customer"]["email"] == "zoe@example.com"
    versions = {c: customer_row(c).version for c in (has_both, has_vip, has_none)}  # type: ignore[union-attr]
    assert versions == {has_both: 1, has_vip: 2, has_none: 2}


def test_bulk_events_built_by_postgresql_are_those_a_single_change_writes(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    # On PostgreSQL, bulk tagging builds its events in SQL; one customer's tagging in Python.
    vip = new_tag("VIP")
    zoe = add_customer(first_name="Zoé", last_name="Ösel", email="zoe@example.com")
    headers = {**writer, "X-Correlation-ID": "corr-bulk-sql"}
    path = f"/customers/{zoe}/tags"
    assert client.post(path, json={"tag_id": str(vip)}, headers=headers).status_code == 200
    assert client.delete(f"{path}/{vip}", headers=headers).status_code == 200
    for action in ("add_tags", "remove_tags"):
        response = bulk(client, headers, action=action, ids=[zoe], tag_ids=[vip])
        assert response.get_json() == {"matched": 1, "changed": 1}
    for kind in ("customer.tagged", "customer.untagged"):
        single, by_sql = outbox(kind)
        assert by_sql["id"] != single["id"]
        for event in (single, by_sql):
            uuid.UUID(event["id"])
            event.pop("id")
            event.pop("time")
        assert by_sql == single
        assert by_sql["correlationid"] == "corr-bulk-sql"
        assert by_sql["data"]["customer"]["last_name"] == "Ösel"


def _without_id_and_time(event: dict[str, Any]) -> dict[str, Any]:
    uuid.UUID(event.pop("id"))
    event.pop("time")
    return event


def test_bulk_status_and_delete_events_built_by_postgresql_are_those_a_single_change_writes(
    client: FlaskClient,
    deleter: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    headers = {**deleter, "X-Correlation-ID": "corr-bulk-sql"}
    tags = sorted((new_tag("B"), new_tag("A"), new_tag("C")), key=str)
    one = add_customer(first_name="Zoé", status="lead", tags=tags)
    two = add_customer(first_name="Zoé", status="lead", tags=tags)
    patched = client.patch(f"/customers/{one}", json={"status": "vip"}, headers=headers)
    assert patched.status_code == 200
    assert bulk(client, headers, action="set_status", ids=[two], status="vip").get_json() == {
        "matched": 1,
        "changed": 1,
    }
    assert client.delete(f"/customers/{one}", headers=headers).status_code == 204
    assert bulk(client, headers, action="delete", ids=[two]).get_json() == {
        "matched": 1,
        "changed": 1,
    }
    for kind in ("customer.status_changed", "customer.deleted"):
        single, by_sql = (_without_id_and_time(event) for event in outbox(kind))
        assert (single["subject"], by_sql["subject"]) == (str(one), str(two))
        assert by_sql["data"].pop("customer_id") == str(two)
        assert single["data"].pop("customer_id") == str(one)
        for event in (single, by_sql):  # the two customers' own email and name aside
            event.pop("subject")
            if "customer" in event["data"]:
                assert "@" in event["data"]["customer"].pop("email")
                assert event["data"]["customer"].pop("last_name").startswith("Last")
        assert by_sql == single
    [deleted] = outbox("customer.deleted", subject=two)
    assert deleted["data"]["tag_ids"] == [str(tag) for tag in tags]  # sorted, as one delete's


def test_removing_tags_by_ids_emits_untagged_for_each_removal(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    old, kept = new_tag("Old"), new_tag("Kept")
    first, second, without = (
        add_customer(tags=(old, kept)),
        add_customer(tags=(old,)),
        add_customer(),
    )

    response = bulk(
        client, writer, action="remove_tags", ids=[first, second, without], tag_ids=[old]
    )

    assert response.get_json() == {"matched": 3, "changed": 2}
    assert tags_of(first) == {kept}
    assert tags_of(second) == set()
    events = outbox("customer.untagged")
    assert sorted(e["subject"] for e in events) == sorted([str(first), str(second)])
    assert {e["data"]["tag_name"] for e in events} == {"Old"}


def test_setting_a_status_emits_status_changed_with_each_customers_own_from(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
    customer_row: Callable[[uuid.UUID], Customer | None],
) -> None:
    lead, prospect, already = (
        add_customer(status="lead"),
        add_customer(status="prospect"),
        add_customer(status="active"),
    )

    response = bulk(
        client, writer, action="set_status", ids=[lead, prospect, already], status="active"
    )

    assert response.get_json() == {"matched": 3, "changed": 2}
    events = {e["subject"]: e["data"] for e in outbox("customer.status_changed")}
    assert set(events) == {str(lead), str(prospect)}
    assert (events[str(lead)]["from"], events[str(lead)]["to"]) == ("lead", "active")
    assert events[str(prospect)]["from"] == "prospect"
    assert events[str(lead)]["reason"] == "manual"
    assert "email" in events[str(lead)]["customer"]
    row = customer_row(lead)
    assert row is not None and row.status == "active" and row.version == 2
    assert row.status_changed_at is not None


def test_going_back_to_prospect_is_allowed(
    client: FlaskClient, writer: dict[str, str], add_customer: Callable[..., uuid.UUID]
) -> None:
    vip = add_customer(status="vip")

    response = bulk(client, writer, action="set_status", ids=[vip], status="prospect")

    assert response.get_json() == {"matched": 1, "changed": 1}


def test_deleting_by_ids_deletes_and_emits_deleted_with_the_tags_they_had(
    client: FlaskClient,
    deleter: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    outbox: Callable[..., list[dict[str, Any]]],
    customer_row: Callable[[uuid.UUID], Customer | None],
) -> None:
    tag_a, tag_b = new_tag(), new_tag()
    tagged, plain, kept = add_customer(tags=(tag_a, tag_b)), add_customer(), add_customer()

    response = bulk(client, deleter, action="delete", ids=[tagged, plain])

    assert response.get_json() == {"matched": 2, "changed": 2}
    assert customer_row(tagged) is None and customer_row(plain) is None
    assert customer_row(kept) is not None
    events = {e["subject"]: e["data"] for e in outbox("customer.deleted")}
    assert sorted(events[str(tagged)]["tag_ids"]) == sorted([str(tag_a), str(tag_b)])
    assert events[str(plain)]["tag_ids"] == []


def test_a_filter_selects_what_the_list_would(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
) -> None:
    prospect_tag, added = new_tag("Prospects"), new_tag("Campaign")
    lyon_prospect = add_customer(address_city="Lyon", tags=(prospect_tag,))
    lyon_other = add_customer(address_city="LYON")
    paris_prospect = add_customer(address_city="Paris", tags=(prospect_tag,))

    response = bulk(
        client,
        writer,
        action="add_tags",
        filter={"city": "lyon", "tag": [str(prospect_tag)]},
        tag_ids=[added],
    )

    assert response.get_json() == {"matched": 1, "changed": 1}
    assert added in tags_of(lyon_prospect)
    assert added not in tags_of(lyon_other) | tags_of(paris_prospect)


def test_a_filter_on_status_can_move_everyone_out_of_it(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    customer_row: Callable[[uuid.UUID], Customer | None],
) -> None:
    leads = [add_customer(status="lead") for _ in range(3)]
    vip = add_customer(status="vip")

    response = bulk(
        client, writer, action="set_status", filter={"status": "lead"}, status="prospect"
    )

    assert response.get_json() == {"matched": 3, "changed": 3}
    assert {customer_row(c).status for c in leads} == {"prospect"}  # type: ignore[union-attr]
    assert customer_row(vip).status == "vip"  # type: ignore[union-attr]


def test_an_empty_filter_selects_everyone(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
) -> None:
    for _ in range(4):
        add_customer()

    response = bulk(client, writer, action="add_tags", filter={}, tag_ids=[new_tag()])

    assert response.get_json() == {"matched": 4, "changed": 4}


def test_nothing_matched_is_zero_and_zero(
    client: FlaskClient, writer: dict[str, str], new_tag: Callable[..., uuid.UUID]
) -> None:
    response = bulk(client, writer, action="add_tags", ids=[uuid.uuid4()], tag_ids=[new_tag()])

    assert response.status_code == 200
    assert response.get_json() == {"matched": 0, "changed": 0}


# --- refusals -----------------------------------------------------------------------------------
def test_a_tag_not_projected_with_the_tags_service_down_is_503_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    # The tags service's answers (422 for what it does not know): test_read_your_writes.
    customer, known, unknown = add_customer(), new_tag(), uuid.uuid4()
    before = snapshot()

    by_ids = bulk(client, writer, action="add_tags", ids=[customer], tag_ids=[known, unknown])
    by_filter = bulk(
        client, writer, action="set_status", filter={"tag": str(unknown)}, status="vip"
    )

    assert (by_ids.status_code, by_filter.status_code) == (503, 503)
    assert "tags" in by_ids.get_json()["message"]
    assert snapshot() == before


def test_an_unknown_status_is_422_and_changes_nothing(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    customer = add_customer()
    before = snapshot()

    response = bulk(client, writer, action="set_status", ids=[customer], status="ghost")

    assert response.status_code == 422
    assert "ghost" in response.get_json()["errors"]["json"]["status"][0]
    assert snapshot() == before


def test_an_unknown_segment_in_the_filter_is_422_on_it(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    add_customer()
    tag = new_tag()
    before = snapshot()

    response = bulk(
        client, writer, action="add_tags", filter={"segment": str(uuid.uuid4())}, tag_ids=[tag]
    )

    assert response.status_code == 422
    assert "segment" in response.get_json()["errors"]["json"]["filter"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"action": "explode", "ids": ["{c}"]}, "action"),
        ({"ids": ["{c}"], "tag_ids": ["{t}"]}, "action"),
        ({"action": "add_tags", "tag_ids": ["{t}"]}, "ids"),
        ({"action": "add_tags", "ids": ["{c}"], "filter": {}, "tag_ids": ["{t}"]}, "ids"),
        ({"action": "add_tags", "ids": [], "tag_ids": ["{t}"]}, "ids"),
        ({"action": "add_tags", "ids": ["nope"], "tag_ids": ["{t}"]}, "ids"),
        ({"action": "add_tags", "ids": ["{c}"]}, "tag_ids"),
        ({"action": "add_tags", "ids": ["{c}"], "tag_ids": []}, "tag_ids"),
        ({"action": "remove_tags", "ids": ["{c}"], "tag_ids": ["{t}"], "status": "vip"}, "status"),
        ({"action": "set_status", "ids": ["{c}"]}, "status"),
        ({"action": "set_status", "ids": ["{c}"], "status": "vip", "tag_ids": ["{t}"]}, "tag_ids"),
        ({"action": "add_tags", "filter": {"kind": "alien"}, "tag_ids": ["{t}"]}, "filter"),
        ({"action": "add_tags", "filter": {"limit": 5}, "tag_ids": ["{t}"]}, "filter"),
        ({"action": "add_tags", "filter": "city=Lyon", "tag_ids": ["{t}"]}, "filter"),
        ({"action": "add_tags", "ids": ["{c}"], "tag_ids": ["{t}"], "extra": 1}, "extra"),
    ],
)
def test_a_bad_bulk_body_is_422_on_its_field_and_changes_nothing(
    client: FlaskClient,
    deleter: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
    body: dict[str, Any],
    field: str,
) -> None:
    customer, tag = add_customer(), new_tag()
    before = snapshot()

    def fill(value: Any) -> Any:
        if isinstance(value, list):
            return [fill(item) for item in value]
        if isinstance(value, str):
            return value.format(c=customer, t=tag)
        return value

    response = client.post(
        "/customers/bulk", json={key: fill(value) for key, value in body.items()}, headers=deleter
    )

    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert snapshot() == before


def test_bulk_delete_needs_customers_delete(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    snapshot: Callable[[], Snapshot],
) -> None:
    customer = add_customer()
    before = snapshot()

    response = bulk(client, writer, action="delete", ids=[customer])

    assert response.status_code == 403
    assert "customers:delete" in response.get_json()["message"]
    assert snapshot() == before


def test_bulk_actions_need_customers_write(
    client: FlaskClient,
    reader: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
) -> None:
    body = {"action": "add_tags", "ids": [add_customer()], "tag_ids": [new_tag()]}

    assert bulk(client, reader, **body).status_code == 403
    assert bulk(client, {}, **body).status_code == 401
