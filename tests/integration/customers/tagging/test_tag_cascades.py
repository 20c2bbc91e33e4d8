"""`tag.deleted` and `tag.merged` from the tags service: every customer follows, once."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from services.customers.models import Customer, TagView
from services.customers.worker import build_worker
from shared.events.envelope import CloudEvent, make_event
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection
from shared.settings import Settings
from shared.worker import Worker
from tests.backbone import wait_until
from tests.integration.customers.tagging.conftest import TAGS_UP, tag_state

pytestmark = pytest.mark.needs_postgres


def projected(app: Flask, tag_id: uuid.UUID) -> TagView | None:
    with app.extensions["crm"].session_factory() as session:
        return session.get(TagView, tag_id)


# --- through the handlers -----------------------------------------------------------------------
def test_a_deleted_tag_leaves_every_customer_with_untagged_each(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
    customer_row: Callable[[uuid.UUID], Customer | None],
) -> None:
    doomed, kept = new_tag("Doomed"), new_tag("Kept")
    both, only_doomed, only_kept = (
        add_customer(tags=(doomed, kept)),
        add_customer(tags=(doomed,)),
        add_customer(tags=(kept,)),
    )

    deliver("tag.deleted", {"id": str(doomed), "name": "Doomed"})

    assert tags_of(both) == tags_of(only_kept) == {kept}
    assert tags_of(only_doomed) == set()
    assert projected(app, doomed) is None
    events = outbox("customer.untagged")
    assert sorted(e["subject"] for e in events) == sorted([str(both), str(only_doomed)])
    assert {e["data"]["tag_name"] for e in events} == {"Doomed"}
    assert {e["data"]["reason"] for e in events} == {"tag.deleted"}
    assert customer_row(only_doomed).version == 2  # type: ignore[union-attr]
    assert customer_row(only_kept).version == 1  # type: ignore[union-attr]


def test_a_deleted_tag_event_twice_or_republished_changes_nothing_more(
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    doomed = new_tag()
    add_customer(tags=(doomed,))
    event = deliver("tag.deleted", {"id": str(doomed), "name": "x"})

    deliver(event)
    deliver("tag.deleted", {"id": str(doomed), "name": "x"})

    assert len(outbox("customer.untagged")) == 1


def test_a_merged_tag_moves_its_customers_to_the_survivor_once(
    app: Flask,
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    source, target, other = new_tag("Fidele"), new_tag("Fidèle"), new_tag("Other")
    both = add_customer(tags=(source, target))
    only_source = add_customer(tags=(source, other))
    only_target = add_customer(tags=(target,))

    deliver("tag.merged", {"from": str(source), "into": str(target)})

    assert tags_of(both) == {target}
    assert tags_of(only_source) == {target, other}
    assert tags_of(only_target) == {target}
    assert projected(app, source) is None
    tagged = outbox("customer.tagged")
    assert [(e["subject"], e["data"]["tag_id"]) for e in tagged] == [
        (str(only_source), str(target))
    ]
    assert tagged[0]["data"]["tag_name"] == "Fidèle"
    assert tagged[0]["data"]["reason"] == "tag.merged"
    untagged = outbox("customer.untagged")
    assert sorted(e["subject"] for e in untagged) == sorted([str(both), str(only_source)])
    assert {e["data"]["tag_id"] for e in untagged} == {str(source)}


def test_a_merge_delivered_again_moves_nobody_twice(
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
    outbox: Callable[..., list[dict[str, Any]]],
    customer_row: Callable[[uuid.UUID], Customer | None],
) -> None:
    source, target = new_tag(), new_tag()
    customer = add_customer(tags=(source,))
    event = deliver("tag.merged", {"from": str(source), "into": str(target)})

    deliver(event)
    deliver("tag.merged", {"from": str(source), "into": str(target)})

    assert len(outbox("customer.tagged")) == len(outbox("customer.untagged")) == 1
    assert customer_row(customer).version == 2  # type: ignore[union-attr]


@pytest.mark.parametrize("tags_base_url", [TAGS_UP], indirect=True)
def test_a_tag_deleted_in_the_catalogue_can_no_longer_be_given(
    client: FlaskClient,
    writer: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
) -> None:
    tag = new_tag()
    deliver("tag.deleted", {"id": str(tag), "name": "x"})

    response = client.post(
        f"/customers/{add_customer()}/tags", json={"tag_id": str(tag)}, headers=writer
    )

    assert response.status_code == 422


@pytest.mark.parametrize(("sent", "kept"), [("false", False), ("true", True), (False, False)])
def test_the_projection_keeps_what_the_event_schema_loads_not_the_raw_json(
    app: Flask, deliver: Callable[..., CloudEvent], sent: object, kept: bool
) -> None:
    # The catalogue's Boolean accepts the string "false"; bool("false") would be True.
    tag = uuid.uuid4()
    state = {**tag_state(tag, "Loaded", None, "#abcdef"), "is_fixed": sent, "order": "7"}

    deliver("tag.created", state)

    view = projected(app, tag)
    assert view is not None
    assert (view.is_fixed, view.order) == (kept, 7)


def test_a_tag_update_changes_how_customers_show_it(
    client: FlaskClient,
    reader: dict[str, str],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    deliver: Callable[..., CloudEvent],
) -> None:
    tag = new_tag("Before", order=3)
    customer = add_customer(tags=(tag,))

    deliver("tag.updated", tag_state(tag, "After", 1, "#abcdef"))

    [shown] = client.get(f"/customers/{customer}/tags", headers=reader).get_json()["tags"]
    assert shown == {"id": str(tag), "name": "After", "color": "#abcdef", "order": 1}


# --- through RabbitMQ and the worker ------------------------------------------------------------
@pytest.fixture
def worker(customers_settings: Settings, broker_urls: Callable[[str], str]) -> Iterator[Worker]:
    """The customers worker consuming from the test broker, as the customers broker user."""
    settings = dataclasses.replace(customers_settings, broker_url=broker_urls("customers"))
    running = build_worker(settings).start()
    assert running.consumer is not None and running.consumer.ready.wait(15)
    yield running
    running.stop()


@pytest.fixture
def publish(broker_urls: Callable[[str], str]) -> Iterator[Callable[..., None]]:
    """Publishes envelopes to `crm.events` as the tags service's relay does (its broker user)."""
    publisher = EventPublisher(make_connection(broker_urls("tags")))

    def _publish(*events: CloudEvent) -> None:
        publisher.publish_batch(
            [
                OutgoingMessage(routing_key=event.type, body=event.to_json(), message_id=event.id)
                for event in events
            ]
        )

    yield _publish
    publisher.close()


@pytest.mark.needs_rabbitmq
def test_tag_deleted_from_the_broker_removes_the_tag_once_however_often_it_comes(
    app: Flask,
    worker: Worker,
    publish: Callable[..., None],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    doomed, marker = new_tag(), uuid.uuid4()
    customers = [add_customer(tags=(doomed,)) for _ in range(3)]
    deleted = make_event("tag.deleted", {"id": str(doomed), "name": "x"}, source="tags")
    # Handled in order: once the marker tag is projected, both deliveries were handled.
    created = make_event("tag.created", tag_state(marker, "marker", None, "#000000"), "tags")

    publish(deleted, deleted)
    publish(created)

    wait_until(lambda: projected(app, marker) is not None)
    assert all(tags_of(customer) == set() for customer in customers)
    assert projected(app, doomed) is None
    assert sorted(e["subject"] for e in outbox("customer.untagged")) == sorted(
        str(customer) for customer in customers
    )


@pytest.mark.needs_rabbitmq
def test_tag_merged_from_the_broker_moves_customers_once_however_often_it_comes(
    app: Flask,
    worker: Worker,
    publish: Callable[..., None],
    add_customer: Callable[..., uuid.UUID],
    new_tag: Callable[..., uuid.UUID],
    tags_of: Callable[[uuid.UUID], set[uuid.UUID]],
    outbox: Callable[..., list[dict[str, Any]]],
) -> None:
    source, target, marker = new_tag(), new_tag(), uuid.uuid4()
    moved = [add_customer(tags=(source,)) for _ in range(3)]
    had_both = add_customer(tags=(source, target))
    merged = make_event("tag.merged", {"from": str(source), "into": str(target)}, "tags")
    created = make_event("tag.created", tag_state(marker, "marker", None, "#000000"), "tags")

    publish(merged)
    publish(merged, created)

    wait_until(lambda: projected(app, marker) is not None)
    assert all(tags_of(customer) == {target} for customer in [*moved, had_both])
    assert sorted(e["subject"] for e in outbox("customer.tagged")) == sorted(
        str(customer) for customer in moved
    )
    assert len(outbox("customer.untagged")) == 4
