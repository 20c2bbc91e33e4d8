"""The consumer loop on the real RabbitMQ and PostgreSQL: idempotency, retries, dead letters."""

from __future__ import annotations

import json
import logging

import pytest
from kombu import Connection, Producer

from shared.events.envelope import make_event
from shared.events.topology import EVENTS_EXCHANGE
from tests.backbone import (
    PING,
    effects,
    make_session_factory,
    queue_messages,
    record_effect,
    start_consumer,
    stop_consumer,
    wait_until,
)


@pytest.fixture
def db(pg_settings):
    return make_session_factory(pg_settings("automation").database_url)


def publish_raw(amqp_url, body, content_type="application/json", routing_key=PING, user_id="guest"):
    """Publish as the tests' broker user (`guest`, the owner of test events) by default."""
    with Connection(amqp_url) as connection:
        Producer(connection).publish(
            body,
            exchange=EVENTS_EXCHANGE,
            routing_key=routing_key,
            content_type=content_type,
            content_encoding="utf-8",
            delivery_mode=2,
            user_id=user_id,
            declare=[EVENTS_EXCHANGE],
        )


def ping(n, **kwargs):
    return make_event(PING, {"n": n}, source="test", **kwargs)


def test_the_same_event_twice_has_one_effect(db, amqp_url, unique):
    service = unique("svc")
    consumer = start_consumer(amqp_url, service, db)
    event = ping(1)
    try:
        publish_raw(amqp_url, event.to_json())
        publish_raw(amqp_url, event.to_json())
        publish_raw(amqp_url, ping(2).to_json())
        wait_until(lambda: effects(db) == [1, 2])
    finally:
        stop_consumer(*consumer)
    assert effects(db) == [1, 2]


def test_a_failing_handler_is_retried_then_dead_lettered(db, amqp_url, unique):
    service = unique("svc")
    attempts: list[int] = []

    def flaky(event, uow):
        attempts.append(event.data["n"])
        if event.data["n"] == 13:
            raise RuntimeError("cannot handle 13")
        record_effect(event, uow)

    consumer = start_consumer(amqp_url, service, db, handler=flaky, delivery_limit=3)
    try:
        publish_raw(amqp_url, ping(13).to_json())
        publish_raw(amqp_url, ping(14).to_json())
        wait_until(lambda: effects(db) == [14])
        wait_until(lambda: attempts.count(13) >= 3)
        dead = wait_until(lambda: queue_messages(amqp_url, f"{service}.events.dead"))
    finally:
        stop_consumer(*consumer)
    # Three deliveries (the first may run the handler twice: once in a batch, once alone).
    assert 3 <= attempts.count(13) <= 4
    assert json.loads(dead[0].body)["data"] == {"n": 13}
    assert "handler failed 3 times" in dead[0].headers["x-crm-dead-reason"]
    assert "cannot handle 13" in dead[0].headers["x-crm-dead-reason"]
    assert effects(db) == [14]


def test_a_transient_failure_is_retried_until_it_succeeds(db, amqp_url, unique):
    failures = [RuntimeError("database restarting")]

    def once_failing(event, uow):
        if failures:
            raise failures.pop()
        record_effect(event, uow)

    consumer = start_consumer(amqp_url, unique("svc"), db, handler=once_failing)
    try:
        publish_raw(amqp_url, ping(5).to_json())
        wait_until(lambda: effects(db) == [5])
    finally:
        stop_consumer(*consumer)


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ("this is not json {", "application/json", "undecodable"),
        ("<xml/>", "application/xml", "undecodable"),
        (json.dumps({"hello": "world"}), "application/json", "invalid envelope"),
        (ping(1).to_json().replace('"n":1', '"n":"one"'), "application/json", "invalid data"),
    ],
    ids=["not-json", "not-accepted-content-type", "not-an-envelope", "schema-invalid"],
)
def test_an_invalid_message_is_dead_lettered_at_once_and_consuming_goes_on(
    db, amqp_url, unique, body, content_type, reason, caplog
):
    service = unique("svc")
    consumer = start_consumer(amqp_url, service, db)
    try:
        with caplog.at_level(logging.WARNING, logger="shared.events.consumer"):
            publish_raw(amqp_url, body, content_type=content_type)
            publish_raw(amqp_url, ping(2).to_json())
            wait_until(lambda: effects(db) == [2])
        dead = wait_until(lambda: queue_messages(amqp_url, f"{service}.events.dead"))
    finally:
        stop_consumer(*consumer)
    assert len(dead) == 1
    assert reason in dead[0].headers["x-crm-dead-reason"]
    assert dead[0].body.decode() if isinstance(dead[0].body, bytes) else dead[0].body
    assert any(r.message == "message dead-lettered" for r in caplog.records)


def test_the_consumer_log_line_carries_the_event_correlation_id(db, amqp_url, unique, caplog):
    consumer = start_consumer(amqp_url, unique("svc"), db)
    try:
        with caplog.at_level(logging.INFO, logger="shared.events.consumer"):
            publish_raw(amqp_url, ping(3, correlationid="corr-42").to_json())
            wait_until(lambda: effects(db) == [3])
            wait_until(lambda: any(r.message == "event consumed" for r in caplog.records))
    finally:
        stop_consumer(*consumer)
    from shared.logging import JsonFormatter

    formatter = JsonFormatter()
    consumed = [r for r in caplog.records if r.message == "event consumed"]
    line = json.loads(formatter.format(consumed[0]))
    assert line["correlation_id"] == "corr-42"
    assert line["event_type"] == PING
