"""`customers_count` follows customers' tagged, untagged and deleted events, exactly once."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from kombu import Connection, Producer
from sqlalchemy import select

from services.tags.models import TagMembership
from services.tags.worker import build_worker
from shared.db import InboxMessage
from shared.events.envelope import CloudEvent, make_event
from shared.events.topology import EVENTS_EXCHANGE
from shared.settings import Settings

pytestmark = pytest.mark.needs_postgres


def tagging(kind: str, customer: uuid.UUID, tag_id: str, at: datetime) -> CloudEvent:
    """A customer.tagged / customer.untagged event that happened at `at`."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        type=f"customer.{kind}",
        source="customers",
        time=at.isoformat(),
        data={"customer_id": str(customer), "tag_id": tag_id},
        subject=str(customer),
    )


@pytest.fixture
def count_of(client: FlaskClient, reader: dict[str, str]) -> Callable[[str], int]:
    """A tag's `customers_count` as the API answers it."""
    return lambda tag_id: int(
        client.get(f"/tags/{tag_id}", headers=reader).get_json()["customers_count"]
    )


def test_a_customer_tagged_twice_by_different_events_counts_once(
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
    count_of: Callable[[str], int],
) -> None:
    tag, customer, other = new_tag(), uuid.uuid4(), uuid.uuid4()

    for who in (customer, customer, other):
        deliver("customer.tagged", {"customer_id": str(who), "tag_id": tag["id"]})

    assert count_of(tag["id"]) == 2


def test_a_redelivered_event_has_no_second_effect(
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
    count_of: Callable[[str], int],
) -> None:
    tag, customer = new_tag(), uuid.uuid4()
    tagged = deliver("customer.tagged", {"customer_id": str(customer), "tag_id": tag["id"]})
    untagged = deliver("customer.untagged", {"customer_id": str(customer), "tag_id": tag["id"]})

    deliver(tagged)

    assert count_of(tag["id"]) == 0
    deliver(untagged)
    assert count_of(tag["id"]) == 0


def test_untagging_uncounts_and_never_goes_below_zero(
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
    count_of: Callable[[str], int],
) -> None:
    tag, customer, stranger = new_tag(), uuid.uuid4(), uuid.uuid4()
    deliver("customer.tagged", {"customer_id": str(customer), "tag_id": tag["id"]})

    deliver("customer.untagged", {"customer_id": str(customer), "tag_id": tag["id"]})
    deliver("customer.untagged", {"customer_id": str(customer), "tag_id": tag["id"]})
    deliver("customer.untagged", {"customer_id": str(stranger), "tag_id": tag["id"]})

    assert count_of(tag["id"]) == 0
    deliver("customer.tagged", {"customer_id": str(customer), "tag_id": tag["id"]})
    assert count_of(tag["id"]) == 1


def test_an_event_older_than_the_last_one_applied_changes_nothing(
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
    count_of: Callable[[str], int],
) -> None:
    tag, customer = new_tag(), uuid.uuid4()
    now = datetime.now(UTC)

    deliver(tagging("untagged", customer, tag["id"], now))
    deliver(tagging("tagged", customer, tag["id"], now - timedelta(seconds=5)))

    assert count_of(tag["id"]) == 0
    deliver(tagging("tagged", customer, tag["id"], now + timedelta(seconds=5)))
    assert count_of(tag["id"]) == 1


def test_a_deleted_customer_no_longer_counts_for_any_of_its_tags(
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
    count_of: Callable[[str], int],
) -> None:
    first, second, named_only = new_tag(), new_tag(), new_tag()
    customer, other = uuid.uuid4(), uuid.uuid4()
    for tag in (first, second):
        deliver("customer.tagged", {"customer_id": str(customer), "tag_id": tag["id"]})
    deliver("customer.tagged", {"customer_id": str(other), "tag_id": first["id"]})

    deliver("customer.deleted", {"customer_id": str(customer), "tag_ids": [named_only["id"]]})

    assert [count_of(tag["id"]) for tag in (first, second, named_only)] == [1, 0, 0]
    # A tagging said before the deletion and delivered after it does not bring the customer back.
    old = tagging("tagged", customer, named_only["id"], datetime.now(UTC) - timedelta(minutes=1))
    deliver(old)
    assert count_of(named_only["id"]) == 0


def test_an_event_about_an_unknown_tag_is_handled_and_ignored(
    app: Flask, deliver: Callable[..., CloudEvent]
) -> None:
    unknown = str(uuid.uuid4())

    event = deliver("customer.tagged", {"customer_id": str(uuid.uuid4()), "tag_id": unknown})

    with app.extensions["crm"].session_factory() as session:
        assert session.get(InboxMessage, ("crm-customers", uuid.UUID(event.id))) is not None
        assert session.scalars(select(TagMembership)).all() == []


def test_deleting_a_tag_with_customers_succeeds(
    client: FlaskClient,
    writer: dict[str, str],
    new_tag: Callable[..., dict[str, Any]],
    deliver: Callable[..., CloudEvent],
) -> None:
    tag = new_tag()
    deliver("customer.tagged", {"customer_id": str(uuid.uuid4()), "tag_id": tag["id"]})

    assert client.delete(f"/tags/{tag['id']}", headers=writer).status_code == 204


@pytest.mark.needs_rabbitmq
def test_the_count_follows_tagged_events_from_rabbitmq_and_ignores_a_duplicate(
    pg_settings: Callable[..., Settings],
    broker_urls: Callable[[str], str],
    new_tag: Callable[..., dict[str, Any]],
    count_of: Callable[[str], int],
) -> None:
    tag, marker = new_tag(), new_tag()
    first, second = uuid.uuid4(), uuid.uuid4()
    events = [
        make_event("customer.tagged", {"customer_id": str(c), "tag_id": tag["id"]}, "customers")
        for c in (first, second, first)
    ]
    worker = build_worker(pg_settings("tags", broker_url=broker_urls("tags")))
    worker.start()
    try:
        assert worker.consumer is not None and worker.consumer.ready.wait(10)
        with Connection(broker_urls("customers")) as connection:
            producer = Producer(connection, exchange=EVENTS_EXCHANGE)

            def publish(event: CloudEvent) -> None:
                producer.publish(
                    event.to_json(),
                    routing_key=event.type,
                    content_type="application/json",
                    user_id="crm-customers",
                    declare=[EVENTS_EXCHANGE],
                )

            for event in events:
                publish(event)
            wait_until(lambda: count_of(tag["id"]) == 2)
            publish(events[1])
            # Handled in order: once the marker counts, the duplicate before it has been seen.
            publish(
                make_event(
                    "customer.tagged",
                    {"customer_id": str(first), "tag_id": marker["id"]},
                    "customers",
                )
            )
            wait_until(lambda: count_of(marker["id"]) == 1)
        assert count_of(tag["id"]) == 2
        with worker.session_factory() as session:
            handled = session.scalars(select(InboxMessage.event_id)).all()
        assert len(handled) == len(events) + 1
    finally:
        worker.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)
