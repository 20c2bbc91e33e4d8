"""`GET /customers/{id}/timeline` (filters, keyset pages, 404) and custom entries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.integration.customers.timeline.conftest import event, purchase

pytestmark = pytest.mark.needs_postgres

Timeline = Callable[..., list[dict[str, Any]]]


def support(customer: uuid.UUID, time: str) -> Any:
    return event("support.request.created", {"customer_id": str(customer)}, time=time)


def test_type_repeatable_from_and_to_narrow_the_timeline(
    add_customer: Callable[..., uuid.UUID], deliver: Callable[..., None], timeline: Timeline
) -> None:
    customer = add_customer()
    events = [
        purchase(customer, "1.00", time="2026-11-01T00:00:00Z"),
        support(customer, "2026-11-02T00:00:00Z"),
        event("marketing.email.opened", {"customer_id": str(customer), "campaign": "c"},
              time="2026-11-03T00:00:00Z"),
        purchase(customer, "2.00", time="2026-11-04T00:00:00Z"),
    ]  # fmt: skip
    deliver(*events)
    ids = [e.id for e in events]

    def shown(**params: Any) -> list[str]:
        return [e["event_id"] for e in timeline(customer, **params)]

    assert shown(type="billing.purchase.completed") == [ids[3], ids[0]]
    assert shown(type=["billing.purchase.completed", "support.request.created"]) == [
        ids[3], ids[1], ids[0]
    ]  # fmt: skip
    assert shown(**{"from": "2026-11-02T00:00:00Z", "to": "2026-11-03T00:00:00Z"}) == [
        ids[2], ids[1]
    ]  # fmt: skip
    assert shown(**{"from": "2026-11-03T00:00:00+02:00"}) == [ids[3], ids[2]]
    assert shown(type="custom") == []


def test_pages_follow_each_other_without_gap_or_repeat_even_at_one_time(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    client: FlaskClient,
    reader: dict[str, str],
) -> None:
    customer = add_customer()
    same_time = [purchase(customer, "1.00", time="2026-11-01T00:00:00Z") for _ in range(5)]
    others = [purchase(customer, "1.00", time=f"2026-11-0{d}T00:00:00Z") for d in (2, 3)]
    deliver(*same_time, *others)

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/customers/{customer}/timeline", query_string=query, headers=reader)
        assert page.status_code == 200
        seen += [e["event_id"] for e in page.get_json()["items"]]
        pages += 1
        cursor = page.get_json()["next_cursor"]
        if cursor is None:
            break

    assert pages == 4
    assert len(seen) == len(set(seen)) == 7
    assert seen[:2] == [others[1].id, others[0].id]


def test_an_unknown_customer_is_404_and_a_foreign_cursor_422(
    add_customer: Callable[..., uuid.UUID], client: FlaskClient, reader: dict[str, str]
) -> None:
    assert client.get(f"/customers/{uuid.uuid4()}/timeline", headers=reader).status_code == 404
    assert client.get(f"/customers/{uuid.uuid4()}/summary", headers=reader).status_code == 404
    customer = add_customer()
    for cursor in ("nonsense", "WyJ4IiwieSJd"):  # the second: ["x","y"]
        answer = client.get(
            f"/customers/{customer}/timeline", query_string={"cursor": cursor}, headers=reader
        )
        assert answer.status_code == 422, cursor
    bad_type = client.get(
        f"/customers/{customer}/timeline", query_string={"type": "nope"}, headers=reader
    )
    assert bad_type.status_code == 422


def test_a_custom_entry_keeps_formatting_and_loses_what_could_run(
    add_customer: Callable[..., uuid.UUID],
    client: FlaskClient,
    writer: dict[str, str],
    timeline: Timeline,
) -> None:
    customer = add_customer()
    note = (
        '<p onclick="steal()">Called <b>twice</b>, <em>happy</em>'
        "<script>alert(1)</script>"
        '<a href="javascript:alert(1)">bad</a> <a href="https://example.com/x">good</a>'
        '<img src=x onerror="alert(1)"></p>\n<ul><li>one</li></ul>'
    )

    created = client.post(
        f"/customers/{customer}/timeline", json={"title": "Phone call", "note": note},
        headers=writer,
    )  # fmt: skip

    assert created.status_code == 201, created.get_json()
    entry = created.get_json()
    kept = entry["note"]
    for gone in ("script", "alert", "onclick", "onerror", "javascript:", "<img"):
        assert gone not in kept
    for stays in ("<b>twice</b>", "<em>happy</em>", 'href="https://example.com/x"', "<li>one</li>"):
        assert stays in kept
    assert entry["type"] == "custom" and entry["title"] == "Phone call"
    assert entry["event_id"] is None and entry["actor"]
    assert [e["id"] for e in timeline(customer)] == [entry["id"]]


def test_custom_entries_change_and_go_event_entries_do_not(
    add_customer: Callable[..., uuid.UUID],
    deliver: Callable[..., None],
    client: FlaskClient,
    writer: dict[str, str],
    reader: dict[str, str],
    timeline: Timeline,
) -> None:
    customer = add_customer()
    deliver(purchase(customer, "1.00"))
    [from_event] = timeline(customer)
    base = f"/customers/{customer}/timeline"
    custom = client.post(base, json={"title": "Visit"}, headers=writer).get_json()

    edited = client.patch(
        f"{base}/{custom['id']}", json={"title": "Visit at the shop", "note": "<i>ok</i>"},
        headers=writer,
    )  # fmt: skip
    assert edited.status_code == 200, edited.get_json()
    assert (edited.get_json()["title"], edited.get_json()["note"]) == (
        "Visit at the shop",
        "<i>ok</i>",
    )
    stale = client.patch(
        f"{base}/{custom['id']}", json={"title": "x"}, headers={**writer, "If-Match": '"old-1"'}
    )
    assert stale.status_code == 412
    assert (
        client.patch(f"{base}/{from_event['id']}", json={"title": "x"}, headers=writer).status_code
        == 409
    )
    assert client.delete(f"{base}/{from_event['id']}", headers=writer).status_code == 409
    assert client.delete(f"{base}/{custom['id']}", headers=reader).status_code == 403
    assert client.post(base, json={"title": "x"}, headers=reader).status_code == 403
    assert client.delete(f"{base}/{custom['id']}", headers=writer).status_code == 204
    assert client.delete(f"{base}/{custom['id']}", headers=writer).status_code == 404
    other = add_customer()
    assert (
        client.get(f"/customers/{other}/timeline/{from_event['id']}", headers=reader).status_code
        == 404
    )
    assert [e["id"] for e in timeline(customer)] == [from_event["id"]]


def test_a_custom_entry_needs_a_title_and_single_line_one(
    add_customer: Callable[..., uuid.UUID], client: FlaskClient, writer: dict[str, str]
) -> None:
    customer = add_customer()
    base = f"/customers/{customer}/timeline"
    for body in (
        {},
        {"title": "   "},
        {"title": "a\nb"},
        {"title": "x" * 201},
        {"title": "ok", "note": "a\x00"},
    ):
        assert client.post(base, json=body, headers=writer).status_code == 422, body
    assert (
        client.post(base, json={"title": "ok", "note": "line\nline"}, headers=writer).status_code
        == 201
    )
    assert (
        client.post(
            f"/customers/{uuid.uuid4()}/timeline", json={"title": "x"}, headers=writer
        ).status_code
        == 404
    )
