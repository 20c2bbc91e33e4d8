"""The relay's wake-up pieces on their own: `Wakeup.wait`'s contract (woken, stopped, timed out),
the in-process subscriptions, and the database names and connection strings they derive.

Times here are lower bounds (a wait does not end before its timeout, which load cannot break) or
generous upper bounds on something that takes a fraction of a second (`GUARD`)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
from sqlalchemy import create_engine

from shared.events import wakeup
from shared.events.wakeup import Wakeup

GUARD = 30.0  # far beyond any wait below that should end at once


def wait_in_thread(w: Wakeup, timeout: float, stop: threading.Event | None) -> list[bool]:
    """Run `w.wait` in a thread, given `GUARD` seconds: [its result], or [] if still waiting."""
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(w.wait(timeout, stop)), daemon=True)
    thread.start()
    thread.join(GUARD)
    return result


@contextlib.contextmanager
def soon(action: Callable[[], None]) -> Iterator[None]:
    """Run `action` from another thread a moment after the block starts."""
    timer = threading.Timer(0.3, action)
    timer.start()
    try:
        yield
    finally:
        timer.join()


def test_a_wakeup_already_set_is_reported_at_once():
    w = Wakeup()
    w.set()
    assert wait_in_thread(w, 600.0, threading.Event()) == [True]
    assert wait_in_thread(w, 600.0, None) == [True]


def test_a_wakeup_set_while_waiting_ends_the_wait():
    w = Wakeup()
    stop = threading.Event()
    with soon(w.set):
        assert wait_in_thread(w, 600.0, stop) == [True]


def test_a_stop_ends_the_wait_long_before_the_timeout_and_is_not_a_wakeup():
    w = Wakeup()
    stop = threading.Event()
    stop.set()
    assert wait_in_thread(w, 600.0, stop) == [False]
    stop = threading.Event()
    with soon(stop.set):
        assert wait_in_thread(w, 600.0, stop) == [False]


def test_with_nothing_to_wake_it_a_wait_lasts_its_whole_timeout():
    """The relay's poll: between two rounds it sleeps `poll_seconds`, not one slice of it."""
    for stop in (threading.Event(), None):
        w = Wakeup()
        started = time.monotonic()
        assert wait_in_thread(w, 1.5, stop) == [False]
        assert time.monotonic() - started >= 1.5


def test_a_cleared_wakeup_is_not_reported():
    w = Wakeup()
    w.set()
    w.clear()
    assert wait_in_thread(w, 0.3, threading.Event()) == [False]


def test_a_commit_wakes_the_subscribed_relays_of_its_database_only_until_they_unsubscribe():
    ours, theirs = Wakeup(), Wakeup()
    wakeup.subscribe("unit:ours", ours)
    wakeup.subscribe("unit:theirs", theirs)
    try:
        wakeup.outbox_committed("unit:nobody-listens")  # no relay: nothing to do, no error
        wakeup.outbox_committed("unit:ours")
        assert ours._event.is_set() and not theirs._event.is_set()
        ours.clear()
        wakeup.unsubscribe("unit:ours", ours)
        wakeup.outbox_committed("unit:ours")
        assert not ours._event.is_set()
    finally:
        wakeup.unsubscribe("unit:ours", ours)
        wakeup.unsubscribe("unit:theirs", theirs)


def test_engines_on_one_database_share_a_key_that_holds_no_password():
    """The UnitOfWork's engine and the relay's may differ in password or options; a commit
    through one must still wake the relay of the other."""
    first = create_engine("postgresql+psycopg://crm:s3cret@db.example:5432/automation")
    second = create_engine(
        "postgresql+psycopg://crm:other@db.example:5432/automation?application_name=relay"
    )
    other = create_engine("postgresql+psycopg://crm:s3cret@db.example:5432/customers")
    key = wakeup.database_key(first)
    assert key == wakeup.database_key(second)
    assert key != wakeup.database_key(other)
    assert "s3cret" not in key and "other" not in key


def test_the_listener_connects_with_the_engines_password_through_plain_libpq():
    engine = create_engine("postgresql+psycopg://crm:s3cret@db.example:5433/automation")
    conninfo = wakeup.libpq_conninfo(engine)
    assert conninfo.startswith("postgresql://")
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    assert parts == {
        "user": "crm",
        "password": "s3cret",
        "host": "db.example",
        "port": "5433",
        "dbname": "automation",
    }
