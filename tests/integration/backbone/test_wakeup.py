"""The relay is woken by the commit, not by its poll: NOTIFY from another process on PostgreSQL,
the in-process signal in the embedded mode. The poll is set to a minute; the tests allow 15 s."""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import make_url, text

from shared.db import UnitOfWorkFactory, make_engine
from shared.events import wakeup
from shared.events.publisher import EventPublisher, make_connection
from shared.events.relay import OutboxRelay
from tests.backbone import (
    PING,
    effects,
    make_session_factory,
    start_consumer,
    stop_consumer,
    wait_until,
)
from tests.integration.backbone.support import embedded_publisher, sqlite_session_factory

ROOT = Path(__file__).resolve().parents[3]
POLL_SECONDS = 60.0  # the safety-net poll: far longer than any wait below
WOKEN_WITHIN = 15.0

# Writes one ping through a UnitOfWork in a process of its own: no in-process signal can reach
# this test's relay, only PostgreSQL's NOTIFY.
WRITER = textwrap.dedent(
    """
    import sys
    from shared.db import UnitOfWorkFactory
    from tests.backbone import PING, make_session_factory

    with UnitOfWorkFactory(make_session_factory(sys.argv[1]), "test")() as uow:
        uow.emit(PING, {"n": int(sys.argv[2])})
        uow.commit()
    """
)


class ObservedRelay(OutboxRelay):
    """A relay whose rounds can be watched: how many ran, whether one is running."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rounds = 0
        self.in_round = False

    def relay_once(self) -> int:
        self.in_round = True
        try:
            return super().relay_once()
        finally:
            self.rounds += 1
            self.in_round = False

    def asleep(self) -> bool:
        """Done with its rounds and waiting, with nothing to wake it: only a poll or a new
        commit can start the next round."""
        return self.rounds > 0 and not self.in_round and not self.wakeup._event.is_set()


@pytest.fixture
def listeners(monkeypatch: pytest.MonkeyPatch) -> list[wakeup.OutboxListener]:
    """The outbox listeners relays start during the test."""
    started: list[wakeup.OutboxListener] = []

    class Listener(wakeup.OutboxListener):
        def start(self) -> wakeup.OutboxListener:
            started.append(self)
            return super().start()

    monkeypatch.setattr(wakeup, "OutboxListener", Listener)
    return started


def run_relay(relay: OutboxRelay) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop, POLL_SECONDS), daemon=True)
    thread.start()
    return stop, thread


@contextlib.contextmanager
def relay_on_postgres(url: str, amqp_url: str, queue: str) -> Iterator[tuple[Any, ObservedRelay]]:
    """A relay (its poll a minute away) and a consumer on `url`'s outbox; (sessions, relay)."""
    db = make_session_factory(url)
    publisher = EventPublisher(make_connection(amqp_url))
    relay = ObservedRelay(db, publisher, "test")
    consumer = start_consumer(amqp_url, queue, db)
    stop, thread = run_relay(relay)
    try:
        yield db, relay
    finally:
        stop.set()
        thread.join(30)
        stop_consumer(*consumer)
        publisher.close()
    assert not thread.is_alive()


def listening_and_asleep(listeners: list[wakeup.OutboxListener], relay: ObservedRelay) -> None:
    """Wait until the relay's listener listens and the relay sleeps: only a commit wakes it."""
    wait_until(lambda: listeners and listeners[0].listening.is_set(), timeout=30)
    wait_until(relay.asleep, timeout=30)


def write_in_another_process(url: str, n: int) -> None:
    """Commit ping `n` from a process of its own (only NOTIFY can tell this one's relay)."""
    writer = subprocess.run(
        [sys.executable, "-c", WRITER, url, str(n)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=120,
    )
    assert writer.returncode == 0, writer.stderr.decode()[-3000:]


def test_a_commit_in_another_process_wakes_the_relay_through_notify(
    pg_settings, amqp_url, unique, listeners
):
    url = pg_settings("automation").database_url
    with relay_on_postgres(url, amqp_url, unique("svc")) as (db, relay):
        listening_and_asleep(listeners, relay)
        rounds = relay.rounds
        write_in_another_process(url, 7)
        wait_until(lambda: effects(db) == [7], timeout=WOKEN_WITHIN)
        assert relay.rounds > rounds
        assert relay.backlog() == 0


def test_a_commit_in_this_process_wakes_the_relay_in_the_embedded_mode(tmp_path, unique):
    db = sqlite_session_factory(str(tmp_path / "wakeup.sqlite3"))
    relay = ObservedRelay(db, embedded_publisher(), "test")
    consumer = start_consumer("memory://", unique("svc"), db)
    stop, thread = run_relay(relay)
    try:
        wait_until(relay.asleep, timeout=30)
        for n in (1, 2):  # woken again after a first wake-up
            with UnitOfWorkFactory(db, "test")() as uow:
                uow.emit(PING, {"n": n})
                uow.commit()
            wait_until(lambda n=n: effects(db) == list(range(1, n + 1)), timeout=WOKEN_WITHIN)
            wait_until(relay.asleep, timeout=30)
    finally:
        stop.set()
        thread.join(30)
        stop_consumer(*consumer)
    assert not thread.is_alive()
    assert relay.backlog() == 0
    # A stopped relay is no longer woken: `run` unsubscribed it.
    relay.wakeup.clear()
    with UnitOfWorkFactory(db, "test")() as uow:
        uow.emit(PING, {"n": 3})
        uow.commit()
    assert not relay.wakeup._event.is_set()


def test_a_relay_that_sent_a_full_batch_sends_the_next_without_waiting_for_its_poll(
    tmp_path, unique
):
    """A backlog larger than a batch (committed before the relay started, so no wake-up is
    pending) goes out batch after batch, not one batch per poll."""
    db = sqlite_session_factory(str(tmp_path / "backlog.sqlite3"))
    with UnitOfWorkFactory(db, "test")() as uow:
        for n in range(1, 6):
            uow.emit(PING, {"n": n})
        uow.commit()
    relay = ObservedRelay(db, embedded_publisher(), "test", batch_size=2)
    consumer = start_consumer("memory://", unique("svc"), db)
    stop, thread = run_relay(relay)
    try:
        wait_until(lambda: effects(db) == [1, 2, 3, 4, 5], timeout=WOKEN_WITHIN)
    finally:
        stop.set()
        thread.join(30)
        stop_consumer(*consumer)
    assert not thread.is_alive()


def test_a_rolled_back_unit_of_work_does_not_wake_the_relay(tmp_path):
    db = sqlite_session_factory(str(tmp_path / "quiet.sqlite3"))
    relay = ObservedRelay(db, embedded_publisher(), "test")
    key = wakeup.database_key(relay.engine)
    wakeup.subscribe(key, relay.wakeup)
    try:
        with UnitOfWorkFactory(db, "test")() as uow:
            uow.emit(PING, {"n": 1})
            uow.rollback()
        assert not relay.wakeup._event.is_set()
        with UnitOfWorkFactory(db, "test")() as uow:
            uow.emit(PING, {"n": 2})
            uow.commit()
        assert relay.wakeup._event.is_set()
    finally:
        wakeup.unsubscribe(key, relay.wakeup)


def test_a_listener_whose_connection_is_cut_listens_again_and_is_woken(
    pg_settings, amqp_url, unique, listeners
):
    url = pg_settings("automation").database_url
    with relay_on_postgres(url, amqp_url, unique("svc")) as (db, relay):
        listening_and_asleep(listeners, relay)
        # The database ends the listener's session, as a restart or a failover would.
        with db() as session:
            assert cut_listeners(session) == 1
        wait_until(lambda: not listeners[0].listening.is_set(), timeout=30)
        wait_until(lambda: listeners[0].listening.is_set(), timeout=30)
        wait_until(relay.asleep, timeout=30)
        write_in_another_process(url, 8)
        wait_until(lambda: effects(db) == [8], timeout=WOKEN_WITHIN)


class Warnings(logging.Handler):
    """The warnings one logger emits (whatever their text): one per failed attempt."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def cut_listeners(session: Any) -> int:
    """End every LISTENing session on this database but ours; how many."""
    return session.execute(
        text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
            " AND pid <> pg_backend_pid()"
        )
    ).scalar_one()


@contextlib.contextmanager
def admin_session(url: str) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """A session on the server's `postgres` database, and the name of `url`'s database."""
    target = make_url(url)
    admin = target.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        yield conn, target.database or ""


@contextlib.contextmanager
def refused_connections(url: str) -> Iterator[None]:
    """`url`'s database refuses new sessions in the block (said from another database:
    PostgreSQL will not refuse connections to the database one is connected to)."""

    def allow(allowed: bool) -> None:
        with admin_session(url) as (conn, name):
            conn.execute(
                sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS {}").format(
                    sql.Identifier(name), sql.SQL(str(allowed).lower())
                )
            )

    allow(False)
    try:
        yield
    finally:
        allow(True)


@contextlib.contextmanager
def warnings_of(logger_name: str) -> Iterator[Warnings]:
    """Count the warnings `logger_name` emits in the block."""
    failures = Warnings()
    logger = logging.getLogger(logger_name)
    logger.addHandler(failures)
    try:
        yield failures
    finally:
        logger.removeHandler(failures)


def end_every_session(url: str) -> None:
    """End every session open on `url`'s database: the relay's, the listener's, the consumer's."""
    with admin_session(url) as (conn, name):
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )


def test_a_listener_keeps_retrying_through_a_long_outage_and_stops_when_told(
    pg_settings, amqp_url, unique, listeners
):
    """The database refuses the listener several times in a row (a restart that takes a while):
    each attempt fails, it keeps retrying, listens again once the database is back, and a later
    commit still wakes the relay. Once the relay stops, its listener's thread ends."""
    url = pg_settings("automation").database_url
    with (
        warnings_of(wakeup.__name__) as failures,
        relay_on_postgres(url, amqp_url, unique("svc")) as (db, relay),
    ):
        listening_and_asleep(listeners, relay)
        with refused_connections(url):
            with db() as session:
                assert cut_listeners(session) == 1
            # the cut, then at least two refused attempts in a row
            wait_until(lambda: failures.count >= 3, timeout=60)
            assert not listeners[0].listening.is_set()
        wait_until(lambda: listeners[0].listening.is_set(), timeout=60)
        wait_until(relay.asleep, timeout=30)
        write_in_another_process(url, 9)
        wait_until(lambda: effects(db) == [9], timeout=WOKEN_WITHIN)
    listeners[0].thread.join(30)
    assert not listeners[0].thread.is_alive()


def test_a_relay_keeps_retrying_through_a_long_database_outage(
    pg_settings, amqp_url, unique, listeners
):
    """The relay's rounds fail several times in a row (its sessions ended, new ones refused): it
    keeps retrying, and relays what commits once the database is back."""
    url = pg_settings("automation").database_url
    with (
        warnings_of(OutboxRelay.__module__) as failures,
        relay_on_postgres(url, amqp_url, unique("svc")) as (db, relay),
    ):
        listening_and_asleep(listeners, relay)
        with refused_connections(url):
            end_every_session(url)
            relay.wakeup.set()  # a round now, on a database that refuses it
            wait_until(lambda: failures.count >= 3, timeout=60)
        write_in_another_process(url, 10)
        wait_until(lambda: effects(db) == [10], timeout=60)


def test_a_listener_started_while_the_database_refuses_it_listens_once_it_is_back(pg_settings):
    """A worker that starts before its database does: the listener's first attempts fail, it
    keeps retrying, and once it listens a commit in another process sets its wake-up."""
    url = pg_settings("automation").database_url
    make_session_factory(url)  # the test's tables, while connections are allowed
    stop, woken = threading.Event(), wakeup.Wakeup()
    listener = wakeup.OutboxListener(make_engine(url), woken, stop)
    try:
        with warnings_of(wakeup.__name__) as failures, refused_connections(url):
            listener.start()
            wait_until(lambda: failures.count >= 2, timeout=60)
            assert not listener.listening.is_set()
        wait_until(listener.listening.is_set, timeout=60)
        woken.clear()
        write_in_another_process(url, 11)
        wait_until(lambda: woken._event.is_set(), timeout=WOKEN_WITHIN)
    finally:
        stop.set()
        listener.join(30)
    assert not listener.thread.is_alive()


def test_a_relay_started_while_the_database_refuses_it_relays_once_it_is_back(
    pg_settings, amqp_url, unique
):
    """A worker that starts before its database does: the relay's first rounds fail, it keeps
    retrying, and relays what commits once the database is back."""
    url = pg_settings("automation").database_url
    db = make_session_factory(url)  # the test's tables, while connections are allowed
    publisher = EventPublisher(make_connection(amqp_url))
    relay = ObservedRelay(db, publisher, "test")
    consumer = start_consumer(amqp_url, unique("svc"), db)
    stop = thread = None
    try:
        with warnings_of(OutboxRelay.__module__) as failures, refused_connections(url):
            end_every_session(url)
            stop, thread = run_relay(relay)
            wait_until(lambda: failures.count >= 2, timeout=60)
        write_in_another_process(url, 12)
        wait_until(lambda: effects(db) == [12], timeout=60)
    finally:
        if stop is not None and thread is not None:
            stop.set()
            thread.join(30)
        stop_consumer(*consumer)
        publisher.close()
    assert thread is not None and not thread.is_alive()
