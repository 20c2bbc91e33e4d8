"""The unit of work's commit: raw statements committed by the session's connection, whatever
the Session would have done besides (objects kept, listeners told, a lost database noticed)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, event, select, text

from shared.db import (
    InboxMessage,
    UnitOfWork,
    UnitOfWorkFactory,
    make_engine,
    make_session_factory,
    utcnow,
)
from shared.events.statements import driver_connection
from shared.settings import Settings
from tests.servers import cut_database_sessions


@pytest.fixture
def engine(pg_settings: Callable[..., Settings]) -> Iterator[Engine]:
    # Never pinged on checkout: a cut connection is met by the transaction itself.
    engine = make_engine(pg_settings("tags").database_url, ping_after=1e9)
    yield engine
    engine.dispose()


@pytest.fixture
def units(engine: Engine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(make_session_factory(engine), "tags")


def _note_raw(uow: UnitOfWork) -> uuid.UUID:
    """An inbox row written as the consumer writes it: on the session's psycopg connection."""
    key = uuid.uuid4()
    driver_connection(uow.session).execute(
        "INSERT INTO inbox (source, event_id, type, received_at) VALUES (%s, %s, %s, %s)",
        ("probe", key, "probe.noted", utcnow()),
    )
    return key


def _noted(engine: Engine) -> set[uuid.UUID]:
    with engine.connect() as connection:
        return set(connection.scalars(text("SELECT event_id FROM inbox WHERE source = 'probe'")))


def test_raw_statements_are_committed_and_the_connection_goes_back(
    engine: Engine, units: UnitOfWorkFactory
):
    with units() as uow:
        key = _note_raw(uow)
        uow.commit()
        assert engine.pool.checkedout() == 0  # back in the pool at commit, not at exit
        # The session goes on as after Session.commit: a new transaction when used again.
        second = _note_raw(uow)
        uow.commit()
    assert _noted(engine) == {key, second}
    assert engine.pool.checkedout() == 0


def test_a_unit_left_without_commit_writes_nothing(engine: Engine, units: UnitOfWorkFactory):
    with units() as uow:
        _note_raw(uow)
    assert _noted(engine) == set()


def test_objects_the_session_holds_stay_usable_after_commit(
    engine: Engine, units: UnitOfWorkFactory
):
    with units() as uow:
        uow.session.add(InboxMessage(source="probe", event_id=uuid.uuid4(), type="probe.seen"))
        uow.commit()
    with units() as uow:
        loaded = uow.session.scalars(select(InboxMessage)).one()
        key = _note_raw(uow)
        uow.commit()
        assert loaded in uow.session  # still the session's, as Session.commit leaves it
        assert loaded.type == "probe.seen"
    assert key in _noted(engine)


def test_the_sessions_commit_listeners_are_told(engine: Engine, units: UnitOfWorkFactory):
    told: list[str] = []
    with units() as uow:
        _note_raw(uow)
        event.listen(uow.session, "after_commit", lambda _session: told.append("after"))
        uow.commit()
    assert told == ["after"]
    assert len(_noted(engine)) == 1


def test_a_commit_that_meets_a_lost_database_renews_the_pool(
    engine: Engine, units: UnitOfWorkFactory
):
    with units() as uow:  # two pooled connections, both cut below
        with units() as other:
            _note_raw(other)
            _note_raw(uow)
            other.commit()
        uow.commit()
    with pytest.raises(Exception), units() as uow:  # noqa: B017, PT011  (whatever psycopg says)
        _note_raw(uow)
        assert cut_database_sessions(str(engine.url.render_as_string(False))) >= 1
        uow.commit()
    # The failure invalidated the whole pool: the next units get new connections at once.
    for _ in range(2):
        with units() as uow:
            key = _note_raw(uow)
            uow.commit()
        assert key in _noted(engine)
