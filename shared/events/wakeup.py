"""Waking the outbox relay when an outbox row commits, instead of polling for it.

Two sources set a relay's `Wakeup`:
- in this process, `UnitOfWork.commit` calls `outbox_committed(database)` after a commit that
  wrote outbox rows (the embedded mode, and any relay sharing its process with the writer);
- on PostgreSQL, the writing transaction also runs `NOTIFY crm_outbox`, which PostgreSQL
  delivers at commit to every session listening on that database: `OutboxListener` holds one
  such session per relay and sets its `Wakeup` (the real mode: web processes write, the worker
  process relays).
The relay keeps a slow poll as a safety net for a notification lost with a connection.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

import psycopg
from sqlalchemy.engine import URL, Engine

log = logging.getLogger(__name__)

CHANNEL = "crm_outbox"
NOTIFY_SQL = f"NOTIFY {CHANNEL}"


class Wakeup:
    """What a relay waits on between two batches: set when new outbox rows may be there."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """New rows may have committed: wake the relay (or keep it from sleeping)."""
        self._event.set()

    def clear(self) -> None:
        """Called by the relay before it reads the outbox, so no later commit is missed."""
        self._event.clear()

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Sleep until woken, stopped or `timeout` passes; True if woken."""
        remaining = timeout
        slice_ = 0.25 if stop is not None else timeout
        while remaining > 0:
            if self._event.wait(min(slice_, remaining)):
                return True
            if stop is not None and stop.is_set():
                return False
            remaining -= slice_
        return self._event.is_set()


def database_key(engine: Engine) -> str:
    """Names a database the same way for every engine of this process that points at it."""
    url: URL = engine.url
    return url.set(password=None, query={}).render_as_string(hide_password=True)


_local: dict[str, set[Wakeup]] = defaultdict(set)
_local_lock = threading.Lock()


def subscribe(key: str, wakeup: Wakeup) -> None:
    """Have `outbox_committed(key)` set `wakeup`."""
    with _local_lock:
        _local[key].add(wakeup)


def unsubscribe(key: str, wakeup: Wakeup) -> None:
    """Stop setting `wakeup` for `key`."""
    with _local_lock:
        _local[key].discard(wakeup)


def outbox_committed(key: str) -> None:
    """Outbox rows of the database `key` just committed in this process: wake its relays."""
    with _local_lock:
        wakeups = list(_local.get(key, ()))
    for wakeup in wakeups:
        wakeup.set()


def libpq_conninfo(engine: Engine) -> str:
    """The engine's database as a libpq URL (psycopg's own connection, outside the pool)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class OutboxListener:
    """A PostgreSQL session LISTENing on `crm_outbox`, setting a `Wakeup` at each notification.

    Runs in its own thread. A lost connection is opened again with a backoff; the relay is woken
    once it is back, since notifications sent meanwhile were lost with it.
    """

    def __init__(self, engine: Engine, wakeup: Wakeup, stop: threading.Event) -> None:
        self.conninfo = libpq_conninfo(engine)
        self.wakeup = wakeup
        self.stop = stop
        self.listening = threading.Event()
        self.thread = threading.Thread(target=self._run, name="outbox-listener", daemon=True)

    def start(self) -> OutboxListener:
        """Start listening in the background."""
        self.thread.start()
        return self

    def _run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.wakeup.set()  # whatever committed while no one listened
                    backoff = 0.5
                    while not self.stop.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self.wakeup.set()
            except Exception as exc:  # noqa: BLE001  (the database is back sooner or later)
                self.listening.clear()
                log.warning(
                    "outbox listener lost its connection; reconnecting",
                    extra={"error": repr(exc), "retry_in": backoff},
                )
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.listening.clear()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the thread to end (after `stop` is set)."""
        if self.thread.is_alive():
            self.thread.join(timeout)
