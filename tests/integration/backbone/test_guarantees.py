"""The backbone's guarantees (docs/events.md, the architecture guide), each by a test that fails
when the guarantee is removed: order per relay, once per event id, poison isolation, dead letters
with the original body and reason, the delivery limit, retention never touching unsent rows."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from shared.db import InboxMessage, OutboxMessage, UnitOfWorkFactory, utcnow
from shared.events.consumer import EventDispatcher
from shared.events.envelope import make_event
from shared.events.inbox import purge_inbox, record_in_inbox
from shared.events.publisher import make_connection
from shared.events.relay import OutboxRelay
from tests.backbone import (
    PING,
    effects,
    make_session_factory,
    queue_messages,
    record_effect,
    start_consumer,
    stop_consumer,
    wait_until,
)
from tests.integration.backbone.support import (
    RecordingPublisher,
    declare_service_queue,
    embedded_publisher,
    publish_bodies,
    sqlite_session_factory,
    start_batch_consumer,
)


@pytest.fixture
def db(pg_settings):
    return make_session_factory(pg_settings("automation").database_url)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_db(request, tmp_path):
    """The test database on PostgreSQL, then on SQLite (the embedded mode)."""
    if request.param == "sqlite":
        return sqlite_session_factory(str(tmp_path / "backbone.sqlite3"))
    return make_session_factory(request.getfixturevalue("pg_settings")("automation").database_url)


def ping(n, **kwargs):
    return make_event(PING, {"n": n}, source="test", **kwargs)


def emit_pings(db, numbers):
    with UnitOfWorkFactory(db, "test")() as uow:
        for n in numbers:
            uow.emit(PING, {"n": n}, subject=str(n))
        uow.commit()


def outbox_ids_by_event(db):
    with db() as session:
        return {str(event_id): id_ for id_, event_id in session.execute(
            select(OutboxMessage.id, OutboxMessage.event_id)
        )}  # fmt: skip


# --- order per relay --------------------------------------------------------------------------


def scramble_heap(db):
    """Rewrite unsent rows so that PostgreSQL stores them out of id order: some updated (a new
    row version at the end of the heap), others deleted and inserted again with their ids."""
    with db() as session, session.begin():
        session.execute(text("UPDATE outbox SET attempts = attempts WHERE id % 3 = 0"))
        moved = session.execute(
            text("DELETE FROM outbox WHERE id % 4 = 1 RETURNING *")
        ).mappings().all()  # fmt: skip
        for row in reversed(moved):
            session.execute(
                text(
                    "INSERT INTO outbox (id, event_id, type, subject, payload, created_at,"
                    " sent_at, attempts, last_error) VALUES (:id, :event_id, :type, :subject,"
                    " :payload, :created_at, :sent_at, :attempts, :last_error)"
                ),
                dict(row),
            )
        session.execute(text("UPDATE outbox SET attempts = attempts WHERE id % 7 = 2"))
    with db() as session, session.begin():
        # Statistics as autovacuum would have them: the planner reads the small table whole
        # rather than through the unsent rows' index (which would hand rows over in id order).
        session.execute(text("ANALYZE outbox"))
    with db() as session:
        stored = list(session.scalars(text("SELECT id FROM outbox")))
        # The relay's own query, without its ORDER BY: what a relay that lost it would send.
        unordered = list(
            session.scalars(
                text("SELECT id FROM outbox WHERE sent_at IS NULL LIMIT 500 FOR UPDATE SKIP LOCKED")
            )
        )
        session.rollback()
    return stored, unordered


@pytest.mark.parametrize("batch_size", [500, 7])
def test_rows_stored_out_of_id_order_are_published_in_id_order(db, amqp_url, unique, batch_size):
    emit_pings(db, range(1, 61))
    stored, unordered = scramble_heap(db)
    assert sorted(stored) == sorted(unordered) == list(range(1, 61))
    assert stored != sorted(stored), "the heap is still in id order: the test proves nothing"
    assert unordered != sorted(unordered), "rows come in id order even without ORDER BY"
    publisher = RecordingPublisher(make_connection(amqp_url))
    consumer = start_consumer(amqp_url, unique("svc"), db)
    try:
        assert OutboxRelay(db, publisher, "test", batch_size=batch_size).drain() == 60
        wait_until(lambda: len(effects(db)) == 60)
    finally:
        stop_consumer(*consumer)
        publisher.close()
    ids = outbox_ids_by_event(db)
    assert [ids[message_id] for message_id in publisher.published] == list(range(1, 61))
    assert effects(db) == list(range(1, 61))


def test_two_relays_each_publish_in_id_order_and_share_the_work(db, amqp_url):
    emit_pings(db, range(1, 301))
    scramble_heap(db)
    publishers = [RecordingPublisher(make_connection(amqp_url)) for _ in range(2)]
    relays = [OutboxRelay(db, p, "test", batch_size=20) for p in publishers]
    threads = [threading.Thread(target=relay.drain) for relay in relays]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for publisher in publishers:
            publisher.close()
    ids = outbox_ids_by_event(db)
    for publisher in publishers:
        order = [ids[message_id] for message_id in publisher.published]
        assert order == sorted(order)
    published = [m for publisher in publishers for m in publisher.published]
    assert sorted(ids[m] for m in published) == list(range(1, 301))


# --- retention --------------------------------------------------------------------------------


def test_purging_the_outbox_never_deletes_an_unsent_row(any_db):
    db = any_db
    emit_pings(db, [1, 2, 3, 4])
    ids = sorted(outbox_ids_by_event(db).values())
    now = utcnow()
    ages = {  # id -> (created, sent)
        ids[0]: (now - timedelta(days=60), None),  # unsent for long (a broker down for weeks)
        ids[1]: (now - timedelta(days=31), now - timedelta(days=30)),
        ids[2]: (now - timedelta(days=2), now - timedelta(days=1)),
        ids[3]: (now, None),
    }
    with db() as session, session.begin():
        for id_, (created, sent) in ages.items():
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == id_)
                .values(created_at=created, sent_at=sent)
            )
    relay = OutboxRelay(db, embedded_publisher(), "test")

    def left():
        with db() as session:
            return sorted(session.scalars(select(OutboxMessage.id)))

    assert relay.purge_sent(older_than=timedelta(days=7)) == 1
    assert left() == [ids[0], ids[2], ids[3]]
    assert relay.purge_sent(older_than=timedelta(0)) == 1
    assert left() == [ids[0], ids[3]]
    assert relay.purge_sent(older_than=timedelta(0)) == 0  # nothing more to purge: says 0
    assert relay.backlog() == 2
    assert relay.drain() == 2  # the unsent rows still go out


def test_purging_the_inbox_forgets_only_ids_older_than_the_window(any_db):
    db = any_db
    old, recent, new = ping(1), ping(2), ping(3)
    with UnitOfWorkFactory(db, "test")() as uow:
        record_in_inbox(uow, [old, recent, new])
        uow.commit()
    now = utcnow()
    with db() as session, session.begin():
        for event, received in (
            (old, now - timedelta(days=31)),
            (recent, now - timedelta(days=29)),
        ):
            session.execute(
                update(InboxMessage)
                .where(InboxMessage.event_id == uuid.UUID(event.id))
                .values(received_at=received)
            )
    assert purge_inbox(db, older_than=timedelta(days=30)) == 1
    with db() as session:
        kept = {str(event_id) for event_id in session.scalars(select(InboxMessage.event_id))}
    assert kept == {recent.id, new.id}
    assert purge_inbox(db, older_than=timedelta(days=30)) == 0


# --- once per event id ------------------------------------------------------------------------


def test_the_inbox_makes_a_handler_that_is_not_idempotent_run_once_per_event(any_db):
    db = any_db
    dispatcher = EventDispatcher("test", {PING: [record_effect]}, UnitOfWorkFactory(db, "test"))
    first, second, third = ping(1), ping(2), ping(3)
    # In one batch: the same event twice (as a duplicate publish delivers it).
    assert dispatcher.dispatch_batch([first, first, second]) == [True, False, True]
    # Across batches: a redelivery after the commit.
    assert dispatcher.dispatch_batch([second, third, first]) == [False, True, False]
    assert dispatcher.dispatch(third) is False
    assert effects(db) == [1, 2, 3]


def test_the_same_event_published_twice_in_one_batch_and_again_later_has_one_effect(
    db, amqp_url, unique
):
    service = unique("svc")
    declare_service_queue(amqp_url, service, db)
    one, two = ping(1), ping(2)
    publish_bodies(amqp_url, [one.to_json(), one.to_json(), two.to_json()])
    consumer, thread, batches = start_batch_consumer(amqp_url, service, db, first_batch=3)
    try:
        wait_until(lambda: effects(db) == [1, 2])
        publish_bodies(amqp_url, [two.to_json(), ping(3).to_json(), one.to_json()])
        wait_until(lambda: sum(len(b) for b in batches) >= 6)
        wait_until(lambda: effects(db) == [1, 2, 3])
    finally:
        stop_consumer(consumer, thread)
    assert batches[0] == [1, 1, 2]
    assert effects(db) == [1, 2, 3]
    assert queue_messages(amqp_url, f"{service}.events") == []  # every copy acked


def test_an_event_redelivered_after_a_crash_between_commit_and_ack_has_one_effect(
    db, amqp_url, unique
):
    service = unique("svc")
    consumer, thread, batches = start_batch_consumer(amqp_url, service, db)
    dispatcher = consumer.dispatcher
    dispatch_batch = dispatcher.dispatch_batch
    outcomes: list[list[bool]] = []

    def commit_then_crash(events):
        outcome = dispatch_batch(events)  # committed: the effect and the inbox row
        outcomes.append(outcome)
        if len(outcomes) == 1:  # the connection dies before the ack goes out
            live = consumer._live_connection
            live.connection.transport.sock.shutdown(socket.SHUT_RDWR)
        return outcome

    dispatcher.dispatch_batch = commit_then_crash
    try:
        publish_bodies(amqp_url, [ping(1).to_json()])
        wait_until(lambda: len(outcomes) >= 2, timeout=60)  # redelivered to the new connection
    finally:
        stop_consumer(consumer, thread)
    assert outcomes[:2] == [[True], [False]]
    assert effects(db) == [1]


# --- poison isolation, dead letters, delivery limit -------------------------------------------


def test_a_poison_event_in_a_batch_is_dead_lettered_alone_with_its_body_and_reason(
    db, amqp_url, unique
):
    service = unique("svc")
    calls: dict[int, int] = {}

    def poisoned(event, uow):
        calls[event.data["n"]] = calls.get(event.data["n"], 0) + 1
        if event.data["n"] == 13:
            raise RuntimeError("13 is poison")
        record_effect(event, uow)

    declare_service_queue(amqp_url, service, db)
    healthy = [1, 2, 3, 4, 5, 6, 7, 8]
    # Indented, non-ASCII: any re-serialization on the way to the dead letters would show.
    poison = json.dumps(
        {**ping(13).to_dict(), "source": "tést/évènement"}, indent=2, ensure_ascii=False
    ).encode("utf-8")
    bodies = [ping(n).to_json() for n in healthy[:4]] + [poison]
    bodies += [ping(n).to_json() for n in healthy[4:]]
    publish_bodies(amqp_url, bodies)
    consumer, thread, batches = start_batch_consumer(
        amqp_url, service, db, handler=poisoned, delivery_limit=3, first_batch=9
    )
    try:
        dead = wait_until(lambda: queue_messages(amqp_url, f"{service}.events.dead"))
        wait_until(lambda: sorted(effects(db)) == healthy)
    finally:
        stop_consumer(consumer, thread)
    assert batches[0] == [1, 2, 3, 4, 13, 5, 6, 7, 8]  # the poison shared a batch with them
    assert effects(db) == healthy  # each once, in order, none rolled back with the poison
    assert all(calls[n] <= 2 for n in healthy)  # the failed batch, then alone
    assert len(dead) == 1
    body = dead[0].body
    assert (body if isinstance(body, bytes) else body.encode("utf-8")) == poison
    assert "13 is poison" in dead[0].headers["x-crm-dead-reason"]
    assert dead[0].headers["x-crm-dead-kind"] == "handler_failed"
    assert queue_messages(amqp_url, f"{service}.events") == []


def test_an_invalid_message_is_dead_lettered_byte_for_byte(db, amqp_url, unique):
    service = unique("svc")
    declare_service_queue(amqp_url, service, db)
    invalid = '{\n  "specversion": "1.0",\n  "note": "pas un événement"\n}'.encode()
    publish_bodies(amqp_url, [invalid, ping(2).to_json()])
    consumer, thread, _ = start_batch_consumer(amqp_url, service, db)
    try:
        dead = wait_until(lambda: queue_messages(amqp_url, f"{service}.events.dead"))
        wait_until(lambda: effects(db) == [2])
    finally:
        stop_consumer(consumer, thread)
    body = dead[0].body
    assert (body if isinstance(body, bytes) else body.encode("utf-8")) == invalid
    assert "invalid envelope" in dead[0].headers["x-crm-dead-reason"]


@pytest.mark.parametrize("limit", [1, 3])
def test_a_handler_failing_every_time_is_dead_lettered_after_the_delivery_limit(
    db, amqp_url, unique, limit
):
    service = unique("svc")
    calls: list[int] = []
    dead_at: list[int] = []

    def failing(event, uow):
        calls.append(event.data["n"])
        raise RuntimeError("always")

    consumer, thread, _ = start_batch_consumer(
        amqp_url, service, db, handler=failing, delivery_limit=limit
    )
    dead_letter = consumer._dead_letter

    def noting(message, kind, reason):
        dead_at.append(len(calls))
        dead_letter(message, kind, reason)

    consumer._dead_letter = noting
    try:
        publish_bodies(amqp_url, [ping(9).to_json()])  # alone: one handler call per delivery
        dead = wait_until(lambda: queue_messages(amqp_url, f"{service}.events.dead"))
    finally:
        stop_consumer(consumer, thread)
    assert dead_at == [limit]  # dead-lettered once, at the limit: not before, not never
    assert calls == [9] * limit
    assert f"handler failed {limit} times" in dead[0].headers["x-crm-dead-reason"]
    assert json.loads(dead[0].body)["data"] == {"n": 9}
    assert effects(db) == []


def test_the_delivery_limit_holds_in_the_embedded_mode_too(tmp_path, unique):
    db = sqlite_session_factory(str(tmp_path / "limit.sqlite3"))
    service = unique("svc")
    calls: list[int] = []

    def failing(event, uow):
        calls.append(event.data["n"])
        raise RuntimeError("always")

    consumer, thread, _ = start_batch_consumer(
        "memory://", service, db, handler=failing, delivery_limit=3
    )
    relay = OutboxRelay(db, embedded_publisher(), "test")
    try:
        emit_pings(db, [4])
        assert relay.drain() == 1
        dead = wait_until(lambda: queue_messages("memory://", f"{service}.events.dead"))
    finally:
        stop_consumer(consumer, thread)
    assert calls == [4, 4, 4]
    assert "handler failed 3 times" in dead[0].headers["x-crm-dead-reason"]
