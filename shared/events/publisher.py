"""Publishing to RabbitMQ: persistent, mandatory, with publisher confirms awaited per batch.

On RabbitMQ a batch goes out through py-amqp directly, its frames written to the socket in one
call (`_CorkedTransport`), then the confirms are awaited once for the whole batch. kombu's
`Producer.publish` costs a socket write and a read attempt per message, five times what the
frames themselves cost (`python -m bench events`). kombu's in-memory transport (embedded mode)
keeps the `Producer` path.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import amqp
from amqp import spec
from amqp.method_framing import frame_writer
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
        options["polling_interval"] = 0.005
    return Connection(broker_url, heartbeat=heartbeat, transport_options=options, connect_timeout=5)


class EventPublisher:
    """Publishes batches on its own channel and waits for the broker to confirm each batch."""

    def __init__(
        self, connection: Connection, confirm_timeout: float = 30.0, identity: str | None = None
    ) -> None:
        self.connection = connection
        self.confirm_timeout = confirm_timeout
        self.identity = identity
        self._channel: Any = None
        self._producer: Producer | None = None
        self._next_tag = 0
        self._pending: set[int] = set()
        self._nacked: set[int] = set()
        self._corked: _CorkedTransport | None = None
        self.returned: list[str] = []

    @property
    def confirms(self) -> bool:
        """Whether the transport supports publisher confirms (RabbitMQ does; memory:// not)."""
        return self.connection.transport.driver_type == "amqp"

    @property
    def user_id(self) -> str | None:
        """Who the messages say published them (`user_id`): on RabbitMQ the login, which the
        broker checks; on the in-memory transport (one process) the service's name."""
        if self.confirms:
            return str(self.connection.userid) if self.connection.userid else None
        return self.identity

    def _ensure_channel(self) -> Producer:
        if self._producer is not None:
            return self._producer
        self.connection.ensure_connection(max_retries=3, interval_start=0.2, interval_step=0.5)
        if self.confirms:
            self._corked = _CorkedTransport.install(self.connection.connection)
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
            if self.confirms:
                self._publish_frames(messages, exchange.name)
                self._wait_for_confirms()
            else:
                self._publish_with_producer(producer, messages, exchange)
                self._drop_unroutable()
        except Exception:
            self.reset()
            raise

    def _publish_frames(self, messages: Sequence[OutgoingMessage], exchange: str) -> None:
        """Every message of the batch as AMQP frames, written to the socket at once."""
        channel, corked = self._channel, self._corked
        assert channel is not None and corked is not None
        user_id = self.user_id
        with contextlib.suppress(socket.timeout, TimeoutError):
            # Once per batch what py-amqp does per message: take in what the broker said
            # (confirms of an earlier batch, a connection.blocked notice).
            channel.connection.drain_events(timeout=0)
        with corked.corked():
            for message in messages:
                properties: dict[str, Any] = {
                    "content_type": "application/json",
                    "content_encoding": "utf-8",
                    "delivery_mode": 2,
                    "message_id": message.message_id,
                }
                if user_id is not None:
                    properties["user_id"] = user_id
                if message.correlation_id is not None:
                    properties["correlation_id"] = message.correlation_id
                if message.headers:
                    properties["application_headers"] = message.headers
                channel.send_method(
                    spec.Basic.Publish,
                    "Bssbb",
                    (0, exchange, message.routing_key, True, False),
                    amqp.Message(message.body.encode("utf-8"), **properties),
                )
                self._next_tag += 1
                self._pending.add(self._next_tag)

    def _publish_with_producer(
        self, producer: Producer, messages: Sequence[OutgoingMessage], exchange: Exchange
    ) -> None:
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
                    message_id=message.message_id,
                    correlation_id=message.correlation_id,
                    headers=message.headers,
                    user_id=self.identity,
                    retry=False,
                )

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
        self._corked = None
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


class _CorkedTransport:
    """Stands between py-amqp's frame writer and its socket: while corked, frames are gathered
    and written in one call when the cork comes out."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self._parts: list[bytes] | None = None

    @classmethod
    def install(cls, connection: amqp.Connection) -> _CorkedTransport:
        """Route a connected py-amqp connection's frames through a new cork; the cork."""
        corked = cls(connection.transport)
        connection.frame_writer = frame_writer(connection, corked)
        return corked

    def write(self, data: Any) -> None:
        """Write now, or gather (a copy: py-amqp reuses its buffer) while corked."""
        if self._parts is None:
            self.transport.write(data)
        else:
            self._parts.append(bytes(data))

    def having_timeout(self, timeout: float | None) -> Any:
        """py-amqp's write timeout context, on the real transport."""
        return self.transport.having_timeout(timeout)

    @contextlib.contextmanager
    def corked(self) -> Iterator[None]:
        """Gather the frames written inside; write them all at the end, even on an error."""
        self._parts = []
        try:
            yield
        finally:
            parts, self._parts = self._parts, None
            if parts:
                self.transport.write(b"".join(parts))
