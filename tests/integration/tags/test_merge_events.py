"""A merge's events: `tag.merged` alone. The tag merged away gets no `tag.deleted`, which a
consumer could apply first and drop the tag from its customers before moving them
(docs/events.md)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared.events.envelope import CloudEvent

pytestmark = pytest.mark.needs_postgres


def test_a_merge_writes_tag_merged_and_no_tag_deleted(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    source, target = new_tag(), new_tag()
    for customer in (uuid.uuid4(), uuid.uuid4()):
        deliver("customer.tagged", {"customer_id": str(customer), "tag_id": source["id"]})
    before = len(outbox())

    response = client.post(
        f"/tags/{source['id']}/merge", json={"into": target["id"]}, headers=writer
    )

    assert response.status_code == 200
    merge_events = outbox()[before:]
    assert [event["type"] for event in merge_events] == ["tag.merged"]
    assert merge_events[0]["data"] == {"from": source["id"], "into": target["id"]}
    assert outbox("tag.deleted") == []
    assert outbox(subject=source["id"])[-1]["type"] == "tag.created"  # nothing after it


def test_deleting_a_tag_does_write_tag_deleted(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    """The counterpart: the absence above is the merge's, not a tag.deleted never written."""
    tag = new_tag()

    response = client.delete(f"/tags/{tag['id']}", headers=writer)

    assert response.status_code in (200, 204)
    [deleted] = outbox("tag.deleted")
    assert deleted["data"]["id"] == tag["id"]
