"""A broker outage loses nothing: events wait in the outbox and the consumer comes back alone."""

from __future__ import annotations

import threading
import time

import pytest

from shared.db import UnitOfWorkFactory
from shared.events.publisher import EventPublisher, make_connection
from shared.events.relay import OutboxRelay
from tests.backbone import (
    PING,
    effects,
    make_session_factory,
    start_consumer,
    stop_consumer,
    wait_until,
)
from tests.servers import rabbitmqctl

pytestmark = pytest.mark.serial


def emit(db, n):
    with UnitOfWorkFactory(db, "test")() as uow:
        uow.emit(PING, {"n": n})
        uow.commit()


def test_events_committed_while_the_broker_is_down_go_out_in_order_after(
    pg_settings, amqp_url, unique
):
    db = make_session_factory(pg_settings("automation").database_url)
    consumer = start_consumer(amqp_url, unique("svc"), db)
    relay = OutboxRelay(db, EventPublisher(make_connection(amqp_url)), "test", batch_size=20)
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop, 0.05), daemon=True)
    relay_thread.start()
    try:
        for n in range(5):
            emit(db, n)
        wait_until(lambda: effects(db) == list(range(5)))

        rabbitmqctl("stop_app")
        try:
            for n in range(5, 50):
                emit(db, n)
            time.sleep(1.0)
            assert relay.backlog() == 45
            assert effects(db) == list(range(5))
        finally:
            rabbitmqctl("start_app")
        rabbitmqctl("await_startup")

        wait_until(lambda: relay.backlog() == 0, timeout=60)
        wait_until(lambda: len(effects(db)) >= 50, timeout=60)
        emit(db, 50)
        wait_until(lambda: len(effects(db)) >= 51, timeout=30)
    finally:
        stop.set()
        relay_thread.join(10)
        stop_consumer(*consumer)
    assert effects(db) == list(range(51))
