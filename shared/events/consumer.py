"""The consumer loop: JSON only, idempotent through the inbox, ack after commit, dead letters."""

from __future__ import annotations

import errno
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import amqp.transport
from kombu import Connection
from kombu.mixins import ConsumerMixin
from kombu.transport.base import Message

from shared import metrics
from shared.db import UnitOfWork, UnitOfWorkFactory, utcnow
from shared.events.dead_letters import DeadLetter, publish_dead_letters
from shared.events.envelope import CloudEvent, InvalidEvent, parse_time
from shared.events.inbox import record_in_inbox
from shared.events.owners import may_publish, owner_of
from shared.events.publisher import EventPublisher
from shared.events.registry import parse_event
from shared.events.topology import declare_topology
from shared.logging import correlated

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, UnitOfWork], None]

# How far into the future an event's time may be (clocks differ a little between hosts).
CLOCK_SKEW = timedelta(minutes=2)


class BatchHandler:
    """A set-based handler: takes a run of events of one type at once (one statement for many).

    The consumer hands over, in order, the consecutive events of a batch that share a type; a
    one-event call is the same with a run of one, so a `BatchHandler` is also a `Handler`.
    Wrap a function with `batch_handler`. With `mixed_types`, a run spans consecutive events of
    every type whose handlers are exactly the same mixed-type batch handlers (a timeline taking
    purchases, invoices and requests in one statement), not of one type alone.
    """

    def __init__(
        self, handle: Callable[[Sequence[CloudEvent], UnitOfWork], None], mixed_types: bool = False
    ) -> None:
        self.handle = handle
        self.mixed_types = mixed_types
        self.__name__ = getattr(handle, "__name__", type(self).__name__)
        self.__doc__ = handle.__doc__

    def __call__(self, event: CloudEvent, uow: UnitOfWork) -> None:
        self.handle([event], uow)


def batch_handler(handle: Callable[[Sequence[CloudEvent], UnitOfWork], None]) -> BatchHandler:
    """Declare a handler that works on runs of events of one type (see `BatchHandler`)."""
    return BatchHandler(handle)


def mixed_batch_handler(
    handle: Callable[[Sequence[CloudEvent], UnitOfWork], None],
) -> BatchHandler:
    """Declare a handler that works on runs of events of several types (see `BatchHandler`)."""
    return BatchHandler(handle, mixed_types=True)


class EventDispatcher:
    """Runs a service's handlers for one event, once, in one transaction."""

    def __init__(
        self,
        service: str,
        handlers: Mapping[str, Sequence[Handler]],
        uow_factory: UnitOfWorkFactory,
    ) -> None:
        self.service = service
        self.handlers = handlers
        self.uow_factory = uow_factory

    @property
    def event_types(self) -> list[str]:
        """The event types this service subscribes to."""
        return sorted(self.handlers)

    def dispatch(self, event: CloudEvent) -> bool:
        """Handle the event unless the inbox says it was; True if it was handled now."""
        return self.dispatch_batch([event])[0]

    def dispatch_batch(self, events: Sequence[CloudEvent]) -> list[bool]:
        """Handle several events in one transaction (all or none); which were handled now.

        Consecutive new events of one type (or of types sharing mixed-type batch handlers) form
        a run: a `BatchHandler` gets the run at once, any other handler each of its events in
        order.
        """
        handled = []
        with self.uow_factory() as uow:
            new = record_in_inbox(uow, events)
            run: list[CloudEvent] = []
            for event in events:
                if event.id not in new:
                    handled.append(False)
                    continue
                new.discard(event.id)  # the same event twice in one batch is handled once
                if run and self._run_key(run[0].type) != self._run_key(event.type):
                    self._handle_run(run, uow)
                    run = []
                run.append(event)
                handled.append(True)
            if run:
                self._handle_run(run, uow)
            uow.commit()
        return handled

    def _run_key(self, event_type: str) -> Any:
        """What consecutive events must share to be one run: their type, or the very same
        mixed-type batch handlers."""
        handlers = tuple(self.handlers.get(event_type, ()))
        if handlers and all(
            isinstance(handler, BatchHandler) and handler.mixed_types for handler in handlers
        ):
            return handlers
        return event_type

    def _handle_run(self, run: Sequence[CloudEvent], uow: UnitOfWork) -> None:
        handlers = self.handlers.get(run[0].type, ())
        if not any(isinstance(handler, BatchHandler) for handler in handlers):
            for event in run:
                with correlated(event.correlationid, self.service):
                    for handler in handlers:
                        handler(event, uow)
            return
        for handler in handlers:
            if isinstance(handler, BatchHandler):
                with correlated(run[0].correlationid, self.service):
                    handler.handle(run, uow)
                continue
            for event in run:
                with correlated(event.correlationid, self.service):
                    handler(event, uow)


class EventConsumer(ConsumerMixin):
    """Consumes `<service>.events`, reconnecting by itself after a broker restart."""

    def __init__(
        self,
        connection: Connection,
        dispatcher: EventDispatcher,
        dead_letters: EventPublisher,
        delivery_limit: int = 5,
        prefetch: int = 50,
        clock_skew: timedelta = CLOCK_SKEW,
    ) -> None:
        self.connection = connection
        self.dispatcher = dispatcher
        self.dead_letters = dead_letters
        self.delivery_limit = delivery_limit
        self.prefetch = prefetch
        self.clock_skew = clock_skew
        self.service = dispatcher.service
        self.ready = threading.Event()
        # Valid messages received but not yet handled: handled together in one transaction.
        self._pending: list[tuple[CloudEvent, Message]] = []
        self._live_connection: Any = None  # the clone ConsumerMixin consumes on
        # Deliveries seen per message, for transports that do not count them (memory://).
        self._attempts: OrderedDict[str, int] = OrderedDict()

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        queue = declare_topology(channel, self.service, self.dispatcher.event_types)
        return [
            Consumer(
                queues=[queue],
                accept=["json"],
                callbacks=[self.on_message],
                on_decode_error=self.on_decode_error,
                prefetch_count=self.prefetch,
            )
        ]

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        self._live_connection = connection
        if connection.transport.driver_type == "amqp":
            read_ahead(connection.connection.transport)
        # Messages of a previous connection are the broker's again; it redelivers them.
        self._pending.clear()
        self.ready.set()
        log.info("consuming", extra={"queue": f"{self.service}.events"})

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.ready.clear()
        # Their delivery tags died with the channel; the broker delivers them again.
        self._pending.clear()
        log.warning("broker connection lost; reconnecting", extra={"retry_in": interval})

    def on_decode_error(self, message: Message, exc: Exception) -> None:
        """A body that is not JSON (or not an accepted content type) is dead-lettered at once."""
        self._dead_letter(message, "undecodable", f"undecodable message: {exc}")

    def on_message(self, body: Any, message: Message) -> None:
        try:
            event = parse_event(body)
        except InvalidEvent as exc:
            self._dead_letter(message, "invalid", str(exc))
            return
        refusal = self.refusal(event, message)
        if refusal is not None:
            self._dead_letter(message, "refused", refusal)
            return
        self._pending.append((event, message))
        if len(self._pending) >= self.prefetch:
            self._handle_pending()

    def on_iteration(self) -> None:
        """Between two waits for the broker: take what has already arrived, then handle it."""
        if not self._pending:
            return
        while len(self._pending) < self.prefetch and self._live_connection is not None:
            try:
                self._live_connection.drain_events(timeout=0.002)
            except TimeoutError:
                break
        self._handle_pending()

    def refusal(self, event: CloudEvent, message: Message) -> str | None:
        """Why a well-formed event is not to be acted on, or None: it must come from the owner
        of its type (the `user_id` RabbitMQ checked), under its own type as routing key, and
        not be dated beyond the clock skew into the future."""
        user = (message.properties or {}).get("user_id")
        if not may_publish(user, event.type):
            return f"{event.type} published by {user!r}, not by its owner {owner_of(event.type)!r}"
        routing_key = (message.delivery_info or {}).get("routing_key")
        if routing_key != event.type:
            return f"routing key {routing_key!r} is not the event's type {event.type!r}"
        time = parse_time(event.time)
        if time is not None and time > utcnow() + self.clock_skew:
            return f"dated {event.time}, beyond the clock skew ({self.clock_skew}) from now"
        return None

    def _handle_pending(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        started = time.perf_counter()
        try:
            outcomes = self.dispatcher.dispatch_batch([event for event, _ in batch])
        except Exception as exc:  # noqa: BLE001  (handled again one by one, to isolate it)
            if len(batch) == 1:
                event, message = batch[0]
                self._retry_or_dead_letter(message, event, exc)
                return
            for event, message in batch:
                self._handle_one(event, message)
            return
        elapsed = time.perf_counter() - started
        if self._acks_multiple:
            # Every message this channel delivered and did not settle yet is in the batch: one
            # ack (multiple) settles them all.
            batch[-1][1].ack(multiple=True)
        for (event, message), handled in zip(batch, outcomes, strict=True):
            self._acknowledge(event, message, handled, elapsed / len(batch), acked=True)

    def _handle_one(self, event: CloudEvent, message: Message) -> None:
        started = time.perf_counter()
        try:
            (handled,) = self.dispatcher.dispatch_batch([event])
        except Exception as exc:  # noqa: BLE001  (the message is retried, then dead-lettered)
            self._retry_or_dead_letter(message, event, exc)
            return
        self._acknowledge(event, message, handled, time.perf_counter() - started)

    @property
    def _acks_multiple(self) -> bool:
        # kombu's in-memory transport ignores `multiple`; RabbitMQ honours it.
        return self.connection.transport.driver_type == "amqp"

    def _acknowledge(
        self,
        event: CloudEvent,
        message: Message,
        handled: bool,
        seconds: float,
        acked: bool = False,
    ) -> None:
        if not (acked and self._acks_multiple):
            message.ack()
        self._attempts.pop(event.id, None)
        outcome = "handled" if handled else "duplicate"
        metrics.EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()
        if not log.isEnabledFor(logging.INFO):  # the line's context costs even when not written
            return
        with correlated(event.correlationid, self.service):
            log.info(
                "event consumed",
                extra={
                    "event_id": event.id,
                    "event_type": event.type,
                    "outcome": outcome,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )

    def _retry_or_dead_letter(self, message: Message, event: CloudEvent, exc: Exception) -> None:
        attempt = self._attempt_number(message, event.id)
        with correlated(event.correlationid, self.service):
            log.error(
                "event handler failed",
                exc_info=exc,
                extra={"event_id": event.id, "event_type": event.type, "attempt": attempt},
            )
        metrics.EVENTS_CONSUMED.labels(self.service, event.type, "failed").inc()
        if attempt >= self.delivery_limit:
            self._attempts.pop(event.id, None)
            self._dead_letter(message, "handler_failed", f"handler failed {attempt} times: {exc!r}")
            return
        # A short, growing pause so that a transient outage (database restart) is ridden out.
        time.sleep(min(0.05 * 2 ** (attempt - 1), 2.0))
        message.requeue()

    def _attempt_number(self, message: Message, event_id: str) -> int:
        previous = (message.headers or {}).get("x-delivery-count")
        if isinstance(previous, int):
            return previous + 1
        count = self._attempts.get(event_id, 0) + 1
        self._attempts[event_id] = count
        self._attempts.move_to_end(event_id)
        while len(self._attempts) > 10_000:
            self._attempts.popitem(last=False)
        return count

    def _dead_letter(self, message: Message, kind: str, reason: str) -> None:
        """Copy the message to `<service>.events.dead` with the reason, then drop it here."""
        raw = message.body
        properties = message.properties or {}
        letter = DeadLetter(
            body=raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw),
            message_id=str(properties.get("message_id") or uuid.uuid4()),
            kind=kind,
            reason=reason,
            routing_key=message.delivery_info.get("routing_key"),
            content_type=message.content_type,
            headers=dict(message.headers or {}),
        )
        publish_dead_letters(self.dead_letters, self.service, [letter])
        message.ack()


def read_ahead(transport: Any, size: int = 65536) -> None:
    """Have a py-amqp TCP transport read what the socket holds, not a frame part at a time.

    py-amqp asks the socket for exactly the bytes of the next frame part: three or more `recv`
    calls per message, a fifth of a consumer's time (`python -m bench events`). This reads up
    to `size` bytes at once and serves the next frames from what was read. TLS transports,
    which buffer by themselves, are left as they are.
    """
    if not isinstance(transport, amqp.transport.TCPTransport):
        return
    again = (errno.EAGAIN, errno.EINTR)

    def _read(n: int, initial: bool = False) -> bytes:
        buffer = transport._read_buffer
        try:
            while len(buffer) < n:
                try:
                    chunk = transport.sock.recv(max(size, n - len(buffer)))
                except OSError as exc:
                    if exc.errno in again:
                        if initial and transport.raise_on_initial_eintr:
                            raise TimeoutError() from exc
                        continue
                    raise
                if not chunk:
                    raise OSError("Server unexpectedly closed connection")
                buffer += chunk
        except BaseException:
            transport._read_buffer = buffer
            raise
        transport._read_buffer = buffer[n:]
        return bytes(buffer[:n])

    transport._read = _read
