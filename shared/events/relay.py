"""The outbox relay: publishes committed events in order, then marks them sent."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics
from shared.db import OutboxMessage, utcnow
from shared.events.publisher import EventPublisher, OutgoingMessage

log = logging.getLogger(__name__)


def outbox_backlog(session_factory: sessionmaker[Session]) -> int:
    """How many committed events wait in a service's outbox to be published."""
    with session_factory() as session:
        unsent = OutboxMessage.sent_at.is_(None)
        return session.scalar(select(func.count()).select_from(OutboxMessage).where(unsent)) or 0


class OutboxRelay:
    """Moves outbox rows to the broker; several relays may run at once (SKIP LOCKED)."""

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

    def relay_once(self) -> int:
        """Publish the oldest unsent batch and mark it sent, in one transaction; its size."""
        with self.session_factory() as session, session.begin():
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None))
                .order_by(OutboxMessage.id)
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
                    correlation_id=json.loads(row.payload).get("correlationid"),
                )
                for row in rows
            ]
            self.publisher.publish_batch(messages)
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]))
                .values(sent_at=utcnow(), attempts=OutboxMessage.attempts + 1)
            )
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(self.service, row.type).inc()
        return len(rows)

    def drain(self) -> int:
        """Publish until the outbox is empty; how many were published."""
        total = 0
        while count := self.relay_once():
            total += count
        return total

    def run(self, stop: threading.Event, idle_seconds: float = 0.2) -> None:
        """Relay until `stop` is set, backing off while the broker or database is down."""
        backoff = 0.5
        while not stop.is_set():
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
                stop.wait(idle_seconds)

    def backlog(self) -> int:
        """How many committed events wait to be published."""
        with self.session_factory() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.sent_at.is_(None))
                )
                or 0
            )

    def purge_sent(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Delete sent rows past their retention; how many went."""
        with self.session_factory() as session, session.begin():
            result = session.execute(
                delete(OutboxMessage).where(OutboxMessage.sent_at < utcnow() - older_than)
            )
        return int(getattr(result, "rowcount", 0) or 0)
