"""A service's worker: its consumer, its outbox relay and its scheduled jobs, as threads."""

from __future__ import annotations

import functools
import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from shared.db import UnitOfWorkFactory
from shared.events.consumer import EventConsumer, EventDispatcher, Handler
from shared.events.inbox import purge_inbox
from shared.events.owners import broker_user
from shared.events.publisher import EventPublisher, make_connection
from shared.events.relay import OutboxRelay
from shared.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScheduledJob:
    """A job the worker runs every `interval` (e.g. the automation's inactivity sweep)."""

    name: str
    interval: timedelta
    run: Callable[[], Any]


@dataclass
class Worker:
    """Everything a service does outside requests; `start` runs it in daemon threads."""

    settings: Settings
    session_factory: sessionmaker[Session]
    handlers: Mapping[str, Sequence[Handler]]
    jobs: Sequence[ScheduledJob] = ()
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    consumer: EventConsumer | None = None
    relay: OutboxRelay | None = None

    def __post_init__(self) -> None:
        service = self.settings.service
        self.relay = OutboxRelay(
            self.session_factory,
            EventPublisher(
                make_connection(self.settings.broker_url), identity=broker_user(service)
            ),
            service,
            batch_size=self.settings.relay_batch_size,
        )
        if self.handlers:
            dispatcher = EventDispatcher(
                service, self.handlers, UnitOfWorkFactory(self.session_factory, service)
            )
            self.consumer = EventConsumer(
                make_connection(self.settings.broker_url, heartbeat=20),
                dispatcher,
                EventPublisher(
                    make_connection(self.settings.broker_url), identity=broker_user(service)
                ),
                delivery_limit=self.settings.delivery_limit,
                prefetch=self.settings.prefetch,
            )
        purges = [ScheduledJob("outbox-purge", timedelta(hours=1), self.relay.purge_sent)]
        if self.handlers:
            purges.append(
                ScheduledJob(
                    "inbox-purge",
                    timedelta(hours=6),
                    functools.partial(purge_inbox, self.session_factory),
                )
            )
        self.jobs = [*self.jobs, *purges]

    def start(self) -> Worker:
        """Start the relay, the consumer and the scheduler in background threads."""
        service = self.settings.service
        assert self.relay is not None
        relay = self.relay
        self._spawn(
            f"{service}-relay",
            lambda: relay.run(self.stop_event, self.settings.relay_idle_seconds),
        )
        if self.consumer is not None:
            self._spawn(f"{service}-consumer", self._consume)
        for job in self.jobs:
            self._spawn(f"{service}-{job.name}", functools.partial(self._every, job))
        return self

    def _consume(self) -> None:
        # kombu reconnects by itself after connection errors; anything else (a queue declared
        # with other arguments, a channel error) is logged and retried instead of ending silently.
        assert self.consumer is not None
        while not self.stop_event.is_set():
            try:
                self.consumer.run()
            except Exception:  # noqa: BLE001
                log.exception("consumer stopped; restarting it in 5 s")
                self.stop_event.wait(5)
            else:
                return

    def _spawn(self, name: str, target: Callable[[], Any]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _every(self, job: ScheduledJob) -> None:
        while not self.stop_event.wait(job.interval.total_seconds()):
            try:
                job.run()
            except Exception:  # noqa: BLE001  (a failed run is logged; the next one comes)
                log.exception("scheduled job failed", extra={"job": job.name})

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every thread to finish and wait for them."""
        self.stop_event.set()
        if self.consumer is not None:
            self.consumer.should_stop = True
        for thread in self.threads:
            thread.join(timeout)

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""

        def _stop(signum: int, _frame: Any) -> None:
            log.info("stopping worker", extra={"signal": signum})
            self.stop_event.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        log.info("worker started", extra={"service": self.settings.service})
        self.stop_event.wait()
        self.stop()
