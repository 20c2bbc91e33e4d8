"""The outbox relay: publishes committed events in order, then marks them sent."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from datetime import timedelta

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.db import OutboxMessage, table_of, utcnow
from shared.events import wakeup
from shared.events.publisher import EventPublisher, OutgoingMessage
from shared.events.wakeup import Wakeup

log = logging.getLogger(__name__)


def outbox_backlog(session_factory: sessionmaker[Session]) -> int:
    """How many committed events wait in a service's outbox to be published."""
    with session_factory() as session:
        unsent = OutboxMessage.sent_at.is_(None)
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(unsent)) or 0


class OutboxRelay:
    """Moves outbox rows to the broker; several relays may run at once (SKIP LOCKED).

    `run` relays as soon as a commit wakes it (`shared.events.wakeup`), polling slowly only as
    a safety net.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        publisher: EventPublisher,
        service: str,
        batch_size: int = 500,
    ) -> None:
        self.session_factory = session_factory
        self.publisher = publisher
        self.service = service
        self.batch_size = batch_size
        self.wakeup = Wakeup()

    @property
    def engine(self) -> Engine:
        """The database whose outbox this relay publishes."""
        bind = self.session_factory.kw["bind"]
        assert isinstance(bind, Engine)
        return bind

    def relay_once(self) -> int:
        """Publish the oldest unsent batch and mark it sent, in one transaction; its size."""
        outbox = table_of(OutboxMessage)
        with self.session_factory() as session, session.begin():
            rows = session.execute(
                select(outbox.c.id, outbox.c.event_id, outbox.c.type, outbox.c.payload)
                .where(outbox.c.sent_at.is_(None))
                .order_by(outbox.c.id)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            messages = [
                OutgoingMessage(
                    routing_key=row.type,
                    body=row.payload,
                    message_id=str(row.event_id),
                    correlation_id=_correlation_id(row.payload),
                )
                for row in rows
            ]
            self.publisher.publish_batch(messages)
            session.execute(
                update(outbox)
                .where(outbox.c.id.in_([row.id for row in rows]))
                .values(sent_at=utcnow(), attempts=outbox.c.attempts + 1)
            )
        for type_, count in Counter(row.type for row in rows).items():
            metrics.EVENTS_PUBLISHED.labels(self.service, type_).inc(count)
        return len(rows)

    def drain(self) -> int:
        """Publish until the outbox is empty; how many were published."""
        total = 0
        while count := self.relay_once():
            total += count
        return total

    def run(self, stop: threading.Event, poll_seconds: float = 5.0) -> None:
        """Relay until `stop` is set: woken by commits, polling every `poll_seconds` anyway.

        Backs off while the broker or the database is down; what committed meanwhile goes out
        when they are back.
        """
        key = wakeup.database_key(self.engine)
        wakeup.subscribe(key, self.wakeup)
        listener = None
        if self.engine.dialect.name == "postgresql":
            listener = wakeup.OutboxListener(self.engine, self.wakeup, stop).start()
        try:
            self._loop(stop, poll_seconds)
        finally:
            wakeup.unsubscribe(key, self.wakeup)
            if listener is not None:
                listener.join()

    def _loop(self, stop: threading.Event, poll_seconds: float) -> None:
        backoff = 0.5
        while not stop.is_set():
            # Cleared before reading: a commit from now on wakes the next round.
            self.wakeup.clear()
            try:
                count = self.relay_once()
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001  (keep relaying once the outage is over)
                log.warning(
                    "outbox relay failed; retrying",
                    extra={"error": repr(exc), "retry_in": backoff},
                )
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if count < self.batch_size:
                self.wakeup.wait(poll_seconds, stop)

    def backlog(self) -> int:
        """How many committed events wait to be published."""
        return outbox_backlog(self.session_factory)

    def purge_sent(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Delete sent rows past their retention (never an unsent one); how many went."""
        sent_at = OutboxMessage.sent_at
        with self.session_factory() as session, session.begin():
            result = session.execute(
                delete(OutboxMessage).where(sent_at.is_not(None), sent_at < utcnow() - older_than)
            )
        return int(getattr(result, "rowcount", 0) or 0)


def _correlation_id(payload: str) -> str | None:
    """The envelope's correlation id (the payload is parsed only when it has one)."""
    if '"correlationid"' not in payload:
        return None
    value = json.loads(payload).get("correlationid")
    return value if isinstance(value, str) else None
