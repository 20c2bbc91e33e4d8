"""Test doubles of a service for the event backbone: a test event type and a counting handler."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from kombu import Connection
from marshmallow import fields
from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from shared.db import MessagingBase, UnitOfWork, UnitOfWorkFactory, make_engine
from shared.db import make_session_factory as _make_session_factory
from shared.events.catalogue import EventData
from shared.events.consumer import EventConsumer, EventDispatcher
from shared.events.envelope import CloudEvent
from shared.events.owners import register_owner
from shared.events.publisher import EventPublisher, make_connection
from shared.events.registry import register_event_type

PING = "test.pinged"


class PingData(EventData):
    n = fields.Integer(required=True)


register_event_type(PING, PingData)
# The tests publish their pings as the broker user they log in as.
register_owner("test", "guest")


class Effect(MessagingBase):
    """What the test handler does: one row per handled ping (so a second effect is visible)."""

    __tablename__ = "test_effect"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    n: Mapped[int] = mapped_column(Integer)
    correlation_id: Mapped[str | None] = mapped_column(String(200))


def make_session_factory(url: str) -> sessionmaker[Session]:
    """Sessions on a test database holding the outbox, the inbox and the effect table."""
    engine = make_engine(url)
    Effect.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]
    return _make_session_factory(engine)


def record_effect(event: CloudEvent, uow: UnitOfWork) -> None:
    """The handler under test: writes one effect row."""
    uow.session.add(Effect(n=event.data["n"], correlation_id=event.correlationid))


def effects(session_factory: sessionmaker[Session]) -> list[int]:
    """The `n` of every effect, in insertion order."""
    with session_factory() as session:
        return list(session.scalars(select(Effect.n).order_by(Effect.id)))


def start_consumer(
    broker_url: str,
    service: str,
    session_factory: sessionmaker[Session],
    handler: Callable[[CloudEvent, UnitOfWork], None] = record_effect,
    delivery_limit: int = 3,
) -> tuple[EventConsumer, threading.Thread]:
    """A consumer of `<service>.events` for pings, running in a thread until stopped."""
    dispatcher = EventDispatcher(
        service, {PING: [handler]}, UnitOfWorkFactory(session_factory, service)
    )
    consumer = EventConsumer(
        make_connection(broker_url, heartbeat=10),
        dispatcher,
        EventPublisher(make_connection(broker_url)),
        delivery_limit=delivery_limit,
    )
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert consumer.ready.wait(15), "the consumer did not start"
    return consumer, thread


def stop_consumer(consumer: EventConsumer, thread: threading.Thread) -> None:
    """Stop a consumer started by `start_consumer`."""
    consumer.should_stop = True
    thread.join(15)


def wait_until(predicate: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05) -> Any:
    """Poll until `predicate()` is truthy; its value, or an AssertionError after `timeout`.

    The deadline is generous (a loaded 2-core CI machine runs two test processes beside the
    servers): it only bounds how long a broken guarantee takes to show, never what passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)


def queue_messages(broker_url: str, queue: str) -> list[Any]:
    """Take every message waiting in a queue (e.g. a dead-letter queue), undecoded."""
    messages = []
    with Connection(broker_url) as connection:
        channel = connection.default_channel
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            messages.append(message)
    return messages
