"""The consumer loop: JSON only, idempotent through the inbox, ack after commit, dead letters."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from kombu import Connection
from kombu.mixins import ConsumerMixin
from kombu.transport.base import Message
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared import metrics
from shared.db import InboxMessage, UnitOfWork, UnitOfWorkFactory, utcnow
from shared.events.envelope import CloudEvent, InvalidEvent
from shared.events.publisher import EventPublisher, OutgoingMessage
from shared.events.registry import parse_event
from shared.events.topology import DEAD_EXCHANGE, dead_routing_key, declare_topology
from shared.logging import correlated

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, UnitOfWork], None]


def record_in_inbox(uow: UnitOfWork, events: Sequence[CloudEvent]) -> set[str]:
    """Note events as handled in this transaction; the ids of those not already noted."""
    rows = {_event_uuid(event.id): event for event in events}
    if not rows:
        return set()
    now = utcnow()
    values = [{"event_id": key, "type": e.type, "received_at": now} for key, e in rows.items()]
    dialect = uow.session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        # One round trip for the batch; a concurrent duplicate waits on the key, then skips.
        inserted = uow.session.scalars(
            insert(InboxMessage)
            .values(values)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(InboxMessage.event_id)
        ).all()
    else:
        known = set(
            uow.session.scalars(
                select(InboxMessage.event_id).where(InboxMessage.event_id.in_(list(rows)))
            )
        )
        inserted = [key for key in rows if key not in known]
        uow.session.add_all(InboxMessage(**v) for v in values if v["event_id"] in inserted)
        uow.session.flush()
    return {rows[key].id for key in inserted}


def purge_inbox(session_factory: Any, older_than: timedelta = timedelta(days=30)) -> int:
    """Forget handled event ids past the longest redelivery window; how many went."""
    with session_factory() as session, session.begin():
        result = session.execute(
            delete(InboxMessage).where(InboxMessage.received_at < utcnow() - older_than)
        )
    return int(getattr(result, "rowcount", 0) or 0)


def _event_uuid(event_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(event_id)
    except ValueError:
        # Ids from other systems need not be UUIDs; a stable UUID of the text stands in for them.
        return uuid.uuid5(uuid.NAMESPACE_URL, event_id)


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
        """Handle several events in one transaction (all or none); which were handled now."""
        handled = []
        with self.uow_factory() as uow:
            new = record_in_inbox(uow, events)
            for event in events:
                if event.id not in new:
                    handled.append(False)
                    continue
                new.discard(event.id)  # the same event twice in one batch is handled once
                with correlated(event.correlationid, self.service):
                    for handler in self.handlers.get(event.type, ()):
                        handler(event, uow)
                handled.append(True)
            uow.commit()
        return handled


class EventConsumer(ConsumerMixin):
    """Consumes `<service>.events`, reconnecting by itself after a broker restart."""

    def __init__(
        self,
        connection: Connection,
        dispatcher: EventDispatcher,
        dead_letters: EventPublisher,
        delivery_limit: int = 5,
        prefetch: int = 50,
    ) -> None:
        self.connection = connection
        self.dispatcher = dispatcher
        self.dead_letters = dead_letters
        self.delivery_limit = delivery_limit
        self.prefetch = prefetch
        self.service = dispatcher.service
        self.ready = threading.Event()
        # Valid messages received but not yet handled: handled together in one transaction.
        self._pending: list[tuple[CloudEvent, Message]] = []
        self._live_connection: Any = None  # the clone ConsumerMixin consumes on
        # Deliveries seen per message, for transports that do not count them (memory://).
        self._attempts: OrderedDict[str, int] = OrderedDict()

    def get_consumers(self, Consumer: Any, channel: Any) -> list[Any]:
        queue = declare_topology(
            channel, self.service, self.dispatcher.event_types, self.delivery_limit
        )
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
        for (event, message), handled in zip(batch, outcomes, strict=True):
            self._acknowledge(event, message, handled, elapsed / len(batch))

    def _handle_one(self, event: CloudEvent, message: Message) -> None:
        started = time.perf_counter()
        try:
            (handled,) = self.dispatcher.dispatch_batch([event])
        except Exception as exc:  # noqa: BLE001  (the message is retried, then dead-lettered)
            self._retry_or_dead_letter(message, event, exc)
            return
        self._acknowledge(event, message, handled, time.perf_counter() - started)

    def _acknowledge(
        self, event: CloudEvent, message: Message, handled: bool, seconds: float
    ) -> None:
        message.ack()
        self._attempts.pop(event.id, None)
        outcome = "handled" if handled else "duplicate"
        metrics.EVENTS_CONSUMED.labels(self.service, event.type, outcome).inc()
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
        body = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        properties = message.properties or {}
        headers = dict(message.headers or {})
        headers.update(
            {
                "x-crm-dead-reason": reason[:2000],
                "x-crm-dead-kind": kind,
                "x-crm-original-routing-key": message.delivery_info.get("routing_key"),
                "x-crm-original-content-type": message.content_type,
            }
        )
        self.dead_letters.publish_batch(
            [
                OutgoingMessage(
                    routing_key=dead_routing_key(self.service),
                    body=body,
                    message_id=str(properties.get("message_id") or uuid.uuid4()),
                    headers=_plain_headers(headers),
                )
            ],
            exchange=DEAD_EXCHANGE,
        )
        message.ack()
        metrics.EVENTS_DEAD_LETTERED.labels(self.service, kind).inc()
        log.warning(
            "message dead-lettered",
            extra={
                "reason": reason,
                "routing_key": message.delivery_info.get("routing_key"),
                "queue": dead_routing_key(self.service),
            },
        )


def _plain_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """AMQP headers the broker accepts back: drop the broker's own x-death bookkeeping."""
    plain: dict[str, Any] = {}
    for key, value in headers.items():
        if key in {"x-death", "x-first-death-exchange", "x-first-death-queue"}:
            continue
        if isinstance(value, str | int | float | bool) or value is None:
            plain[key] = value
        else:
            plain[key] = json.dumps(value, default=str)
    return plain
