"""Helpers of the backbone's guarantee tests: raw publishing, a queue declared ahead of its
consumer, a consumer that takes a whole batch at once, a publisher that records what it sent."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit

from kombu import Connection, Producer
from sqlalchemy.orm import Session, sessionmaker

from shared.db import MessagingBase, UnitOfWork, UnitOfWorkFactory, make_engine
from shared.db import make_session_factory as _make_session_factory
from shared.events.consumer import EventConsumer, EventDispatcher
from shared.events.envelope import CloudEvent
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection
from shared.events.topology import EVENTS_EXCHANGE
from tests.backbone import PING, record_effect, start_consumer, stop_consumer


def sqlite_session_factory(path: str) -> sessionmaker[Session]:
    """Sessions on a fresh SQLite file holding the outbox, the inbox and the effect table."""
    engine = make_engine(f"sqlite:///{path}")
    MessagingBase.metadata.create_all(engine)
    return _make_session_factory(engine)


def embedded_publisher() -> EventPublisher:
    """A publisher on kombu's in-memory broker, publishing as the owner of the test events."""
    publisher = EventPublisher(make_connection("memory://"))
    publisher.identity = "guest"  # who its messages say published them (memory:// has no login)
    return publisher


def broker_login(broker_url: str) -> str | None:
    """The user a broker URL logs in as (what RabbitMQ accepts as a message's `user_id`)."""
    if broker_url.startswith("memory://"):
        return None
    return unquote(urlsplit(broker_url).username or "guest")


def publish_bodies(broker_url: str, bodies: Sequence[str | bytes], routing_key: str = PING) -> None:
    """Publish raw bodies (as another system would), in order, on one connection."""
    user_id = broker_login(broker_url)
    with Connection(broker_url) as connection:
        producer = Producer(connection)
        for body in bodies:
            extra: dict[str, Any] = {"user_id": user_id} if user_id else {}
            producer.publish(
                body,
                exchange=EVENTS_EXCHANGE,
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                declare=[EVENTS_EXCHANGE],
                **extra,
            )


def declare_service_queue(
    broker_url: str, service: str, session_factory: sessionmaker[Session]
) -> None:
    """Have a consumer declare its service's queue (as it does, whatever its arguments), then
    stop it, so that messages can wait in that queue before the consumer under test starts."""
    stop_consumer(*start_consumer(broker_url, service, session_factory))


class WholeBatchConsumer(EventConsumer):
    """Hands its first batch over only once `first_batch` messages wait (then as usual), so a
    test knows which events share a batch whatever the timing of the deliveries."""

    first_batch = 1

    def on_iteration(self) -> None:
        if len(self._pending) < self.first_batch:
            return
        self.first_batch = 1
        super().on_iteration()


def start_batch_consumer(
    broker_url: str,
    service: str,
    session_factory: sessionmaker[Session],
    handler: Callable[[CloudEvent, UnitOfWork], None] = record_effect,
    delivery_limit: int = 3,
    first_batch: int = 1,
) -> tuple[WholeBatchConsumer, threading.Thread, list[list[int]]]:
    """A consumer of pings in a thread, its first batch `first_batch` events long; the `n` of
    the events of every batch its dispatcher was handed, in order."""
    dispatcher = EventDispatcher(
        service, {PING: [handler]}, UnitOfWorkFactory(session_factory, service)
    )
    batches: list[list[int]] = []
    dispatch_batch = dispatcher.dispatch_batch

    def recording(events: Sequence[CloudEvent]) -> list[bool]:
        batches.append([event.data["n"] for event in events])
        return dispatch_batch(events)

    dispatcher.dispatch_batch = recording  # type: ignore[method-assign]
    consumer = WholeBatchConsumer(
        make_connection(broker_url, heartbeat=10),
        dispatcher,
        EventPublisher(make_connection(broker_url)),
        delivery_limit=delivery_limit,
        prefetch=max(50, first_batch + 1),
    )
    consumer.first_batch = first_batch
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    assert consumer.ready.wait(15), "the consumer did not start"
    return consumer, thread, batches


class RecordingPublisher(EventPublisher):
    """A publisher that notes the message ids of every batch it published (confirmed)."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self.batches: list[list[str]] = []

    def publish_batch(self, messages: Sequence[OutgoingMessage], exchange: Any = None) -> None:
        if exchange is None:
            super().publish_batch(messages)
        else:
            super().publish_batch(messages, exchange=exchange)
        self.batches.append([message.message_id for message in messages])

    @property
    def published(self) -> list[str]:
        """Every message id, in publishing order."""
        return [message_id for batch in self.batches for message_id in batch]
