"""Events are acted on only when they come from the owner of their type, on the real RabbitMQ:
who published them (`user_id`, checked by the broker against the login), under which routing
key, dated when; and the inbox keys them by owner."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import amqp
import pytest
from amqp.exceptions import AccessRefused, PreconditionFailed
from kombu import Connection
from sqlalchemy.orm import Session, sessionmaker

from shared.db import UnitOfWork, UnitOfWorkFactory, utcnow
from shared.events.consumer import EventConsumer, EventDispatcher
from shared.events.envelope import CloudEvent, make_event
from shared.events.owners import broker_user, owner_of, topic_write_pattern
from shared.events.publisher import EventPublisher, make_connection
from shared.events.topology import EVENTS_EXCHANGE
from tests.backbone import Effect, effects, make_session_factory, queue_messages, wait_until

pytestmark = [pytest.mark.needs_postgres, pytest.mark.needs_rabbitmq]

TAG_ID = str(uuid.uuid4())


@pytest.fixture
def db(pg_settings) -> sessionmaker[Session]:
    return make_session_factory(pg_settings("automation").database_url)


def note(event: CloudEvent, uow: UnitOfWork) -> None:
    """The handler: one effect row per handled event (1 for a tag event, 2 for billing)."""
    uow.session.add(Effect(n=1 if event.type.startswith("tag.") else 2))


@pytest.fixture
def consumer(
    db: sessionmaker[Session], broker_urls: Callable[[str], str], unique: Callable[[str], str]
) -> Iterator[str]:
    """A consumer of tag.deleted and billing.payment.recorded (as customers would be); its
    queue's name."""
    service = unique("trust")
    dispatcher = EventDispatcher(
        service,
        {"tag.deleted": [note], "billing.payment.recorded": [note]},
        UnitOfWorkFactory(db, service),
    )
    url = broker_urls("customers")
    running = EventConsumer(
        make_connection(url, heartbeat=10),
        dispatcher,
        EventPublisher(make_connection(url)),
        delivery_limit=3,
    )
    import threading

    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    assert running.ready.wait(15)
    yield service
    running.should_stop = True
    thread.join(15)


def tag_deleted(**envelope: object) -> str:
    event = make_event("tag.deleted", {"id": TAG_ID, "name": "VIP"}, source="tags").to_dict()
    return json.dumps({**event, **envelope})


def publish(url: str, body: str, routing_key: str = "tag.deleted", **properties: object) -> None:
    """Publish one message and wait for the broker's confirm (its refusal raises)."""
    with Connection(url) as connection:
        connection.ensure_connection()
        channel = connection.connection.channel()
        channel.confirm_select()
        message = amqp.Message(
            body.encode(),
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            **properties,
        )
        channel.basic_publish_confirm(message, EVENTS_EXCHANGE.name, routing_key)
        channel.close()


def dead_reasons(amqp_url: str, service: str) -> list[str]:
    return [
        message.headers["x-crm-dead-reason"]
        for message in queue_messages(amqp_url, f"{service}.events.dead")
    ]


def test_an_owned_event_from_its_owner_is_acted_on(db, consumer, broker_urls, amqp_url):
    publish(broker_urls("tags"), tag_deleted(), user_id=broker_user("tags"))
    wait_until(lambda: effects(db) == [1])
    assert dead_reasons(amqp_url, consumer) == []


@pytest.mark.parametrize("user_id", ["guest", None], ids=["another-user", "no-user-id"])
def test_an_event_not_from_the_owner_of_its_type_is_dead_lettered_with_no_effect(
    db, consumer, amqp_url, user_id
):
    # guest may write anything on the test vhost (an administrator's login): only the consumer's
    # check stands between it and the customers' tags.
    properties = {"user_id": user_id} if user_id else {}
    publish(amqp_url, tag_deleted(source="attacker"), **properties)
    [reason] = wait_until(lambda: dead_reasons(amqp_url, consumer))
    assert "not by its owner 'crm-tags'" in reason
    assert effects(db) == []


def test_the_broker_refuses_a_user_id_that_is_not_the_login(broker_urls):
    # customers may write customer.* but cannot say tags published it.
    with pytest.raises(PreconditionFailed, match="user_id"):
        publish(
            broker_urls("customers"),
            tag_deleted(),
            routing_key="customer.tagged",
            user_id=broker_user("tags"),
        )


def test_a_user_may_publish_only_its_own_types_on_the_events_exchange(broker_urls):
    assert topic_write_pattern("billing") == r"^billing\."
    with pytest.raises(AccessRefused):
        publish(broker_urls("billing"), tag_deleted(), user_id="billing")


def test_an_event_under_another_routing_key_than_its_type_is_dead_lettered(
    db, consumer, broker_urls, amqp_url
):
    body = json.dumps(
        make_event("tag.merged", {"from": TAG_ID, "into": str(uuid.uuid4())}, "tags").to_dict()
    )
    publish(broker_urls("tags"), body, routing_key="tag.deleted", user_id=broker_user("tags"))
    [reason] = wait_until(lambda: dead_reasons(amqp_url, consumer))
    assert "routing key 'tag.deleted' is not the event's type 'tag.merged'" in reason
    assert effects(db) == []


def test_an_event_dated_in_the_future_is_dead_lettered(db, consumer, broker_urls, amqp_url):
    tags = broker_urls("tags")
    publish(tags, tag_deleted(time="9999-01-01T00:00:00Z"), user_id=broker_user("tags"))
    [reason] = wait_until(lambda: dead_reasons(amqp_url, consumer))
    assert "beyond the clock skew" in reason
    # A clock a few seconds ahead is not the future.
    soon = (utcnow() + timedelta(seconds=30)).isoformat()
    publish(tags, tag_deleted(time=soon), user_id=broker_user("tags"))
    wait_until(lambda: effects(db) == [1])


def test_an_owner_cannot_pre_empt_another_owners_event_by_reusing_its_id(db, consumer, broker_urls):
    shared_id = str(uuid.uuid4())
    payment = make_event(
        "billing.payment.recorded",
        {"customer_id": str(uuid.uuid4()), "amount": "10.00", "currency": "EUR"},
        source="billing",
    ).to_dict()
    publish(
        broker_urls("billing"),
        json.dumps({**payment, "id": shared_id}),
        routing_key="billing.payment.recorded",
        user_id="billing",
    )
    wait_until(lambda: effects(db) == [2])
    publish(broker_urls("tags"), tag_deleted(id=shared_id), user_id=broker_user("tags"))
    wait_until(lambda: effects(db) == [2, 1])
    assert owner_of("billing.payment.recorded") == "billing"
