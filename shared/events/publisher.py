"""Publishing to RabbitMQ: persistent, mandatory, with publisher confirms awaited per batch."""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kombu import Connection, Exchange, Producer

from shared.events.topology import DEAD_EXCHANGE, EVENTS_EXCHANGE

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not confirm every message of a batch; the batch must be sent again."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to publish: its routing key, JSON body and identity."""

    routing_key: str
    body: str
    message_id: str
    headers: dict[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None


def make_connection(broker_url: str, heartbeat: int = 0) -> Connection:
    """A kombu connection; the in-memory transport polls fast so embedded mode feels instant."""
    options: dict[str, Any] = {}
    if broker_url.startswith("memory://"):
        options["polling_interval"] = 0.02
    return Connection(broker_url, heartbeat=heartbeat, transport_options=options, connect_timeout=5)


class EventPublisher:
    """Publishes batches on its own channel and waits for the broker to confirm each batch."""

    def __init__(self, connection: Connection, confirm_timeout: float = 30.0) -> None:
        self.connection = connection
        self.confirm_timeout = confirm_timeout
        self._channel: Any = None
        self._producer: Producer | None = None
        self._next_tag = 0
        self._pending: set[int] = set()
        self._nacked: set[int] = set()
        self.returned: list[str] = []

    @property
    def confirms(self) -> bool:
        """Whether the transport supports publisher confirms (RabbitMQ does; memory:// not)."""
        return self.connection.transport.driver_type == "amqp"

    def _ensure_channel(self) -> Producer:
        if self._producer is not None:
            return self._producer
        self.connection.ensure_connection(max_retries=3, interval_start=0.2, interval_step=0.5)
        channel = self.connection.channel()
        if self.confirms:
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.events["basic_return"].add(self._on_return)
        self._next_tag = 0
        self._pending.clear()
        self._nacked.clear()
        for exchange in (EVENTS_EXCHANGE, DEAD_EXCHANGE):
            exchange(channel).declare()
        self._channel = channel
        self._producer = Producer(channel)
        return self._producer

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._pending = {t for t in self._pending if t > delivery_tag}
        else:
            self._pending.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool, *args: Any) -> None:
        done = {t for t in self._pending if t <= delivery_tag} if multiple else {delivery_tag}
        self._nacked |= done
        self._pending -= done

    def _on_return(self, exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
        self.returned.append(routing_key)
        log.info("event unroutable: no queue bound", extra={"routing_key": routing_key})

    def publish_batch(
        self, messages: Sequence[OutgoingMessage], exchange: Exchange = EVENTS_EXCHANGE
    ) -> None:
        """Publish every message, then wait until the broker has confirmed them all."""
        if not messages:
            return
        try:
            producer = self._ensure_channel()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for message in messages:
                    producer.publish(
                        message.body,
                        exchange=exchange,
                        routing_key=message.routing_key,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        mandatory=self.confirms,
                        message_id=message.message_id,
                        correlation_id=message.correlation_id,
                        headers=message.headers,
                        retry=False,
                    )
                    if self.confirms:
                        self._next_tag += 1
                        self._pending.add(self._next_tag)
            if self.confirms:
                self._wait_for_confirms()
            else:
                self._drop_unroutable()
        except Exception:
            self.reset()
            raise

    def _wait_for_confirms(self) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        while self._pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishError(f"{len(self._pending)} messages not confirmed in time")
            self.connection.drain_events(timeout=remaining)
        if self._nacked:
            count = len(self._nacked)
            self._nacked.clear()
            raise PublishError(f"the broker refused {count} messages")

    def _drop_unroutable(self) -> None:
        # kombu's in-memory transport keeps unroutable messages in a queue no one reads.
        # The queue exists only once something was unroutable.
        with contextlib.suppress(Exception):
            self._channel.queue_purge("ae.undeliver")

    def reset(self) -> None:
        """Forget the channel (after a broker error); the next batch opens a new one."""
        channel, self._channel, self._producer = self._channel, None, None
        if channel is not None:
            with contextlib.suppress(Exception):
                channel.close()
        with contextlib.suppress(Exception):
            self.connection.close()
        self.connection = self.connection.clone()

    def close(self) -> None:
        """Release the channel and the connection."""
        self.reset()
        self.connection.close()
