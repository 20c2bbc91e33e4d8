"""The outbox and its relay, on the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import threading

import pytest

from shared.db import UnitOfWorkFactory
from shared.events.publisher import EventPublisher, make_connection
from shared.events.relay import OutboxRelay
from shared.logging import correlated
from tests.backbone import (
    PING,
    effects,
    make_session_factory,
    start_consumer,
    stop_consumer,
    wait_until,
)


@pytest.fixture
def db(pg_settings):
    return make_session_factory(pg_settings("automation").database_url)


@pytest.fixture
def relay(db, amqp_url):
    publisher = EventPublisher(make_connection(amqp_url))
    yield OutboxRelay(db, publisher, "test", batch_size=50)
    publisher.close()


def emit_pings(db, numbers, commit=True):
    uow_factory = UnitOfWorkFactory(db, "test")
    with uow_factory() as uow:
        for n in numbers:
            uow.emit(PING, {"n": n}, subject=str(n))
        if commit:
            uow.commit()


def test_committed_event_is_published_exactly_once(db, relay, amqp_url, unique):
    consumer = start_consumer(amqp_url, unique("svc"), db)
    try:
        emit_pings(db, [1])
        assert relay.drain() == 1
        assert relay.drain() == 0
        wait_until(lambda: effects(db) == [1])
        emit_pings(db, [2])
        relay.drain()
        wait_until(lambda: effects(db) == [1, 2])
    finally:
        stop_consumer(*consumer)
    assert effects(db) == [1, 2]


def test_rolled_back_event_is_never_published(db, relay, amqp_url, unique):
    consumer = start_consumer(amqp_url, unique("svc"), db)
    try:
        emit_pings(db, [1], commit=False)
        emit_pings(db, [2])
        assert relay.drain() == 1
        wait_until(lambda: effects(db) == [2])
    finally:
        stop_consumer(*consumer)
    assert relay.backlog() == 0


def test_events_are_published_in_commit_order(db, relay, amqp_url, unique):
    consumer = start_consumer(amqp_url, unique("svc"), db)
    try:
        for n in range(120):
            emit_pings(db, [n])
        assert relay.drain() == 120
        wait_until(lambda: len(effects(db)) == 120)
    finally:
        stop_consumer(*consumer)
    assert effects(db) == list(range(120))


def test_two_relays_at_once_publish_each_event_once(db, amqp_url, unique):
    emit_pings(db, range(400))
    consumer = start_consumer(amqp_url, unique("svc"), db)
    publishers = [EventPublisher(make_connection(amqp_url)) for _ in range(2)]
    relays = [OutboxRelay(db, p, "test", batch_size=25) for p in publishers]
    counts: list[int] = []
    threads = [threading.Thread(target=lambda r=r: counts.append(r.drain())) for r in relays]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        wait_until(lambda: len(effects(db)) >= 400)
    finally:
        stop_consumer(*consumer)
        for publisher in publishers:
            publisher.close()
    assert sum(counts) == 400
    assert sorted(effects(db)) == list(range(400))


def test_event_carries_the_correlation_id_of_its_cause(db, relay, amqp_url, unique):
    consumer = start_consumer(amqp_url, unique("svc"), db)
    try:
        with correlated("req-1234"):
            emit_pings(db, [7])
        relay.drain()
        wait_until(lambda: effects(db) == [7])
    finally:
        stop_consumer(*consumer)
    from sqlalchemy import select

    from tests.backbone import Effect

    with db() as session:
        assert session.scalar(select(Effect.correlation_id)) == "req-1234"


def test_events_written_in_bulk_are_published_like_the_others(db, relay, amqp_url, unique):
    consumer = start_consumer(amqp_url, unique("svc"), db)
    try:
        with UnitOfWorkFactory(db, "test")() as uow:
            assert uow.emit_many(PING, (({"n": n}, None) for n in range(30)), chunk=7) == 30
            uow.commit()
        assert relay.drain() == 30
        wait_until(lambda: len(effects(db)) == 30)
    finally:
        stop_consumer(*consumer)
    assert effects(db) == list(range(30))
