"""Outbox -> RabbitMQ -> consumer throughput, beside raw pika on the same broker and queue type."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
import psycopg
import sqlalchemy as sa
from pika.adapters.blocking_connection import BlockingChannel
from pika.channel import Channel
from pika.frame import Method
from pika.spec import Basic, BasicProperties
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from bench.harness import Result, env_float, env_int, fresh_database, fresh_vhost, say
from shared.db import (
    InboxMessage,
    MessagingBase,
    UnitOfWork,
    UnitOfWorkFactory,
    make_engine,
    make_session_factory,
    table_of,
)
from shared.events.catalogue import TagStateData
from shared.events.consumer import EventConsumer, EventDispatcher, Handler, batch_handler
from shared.events.envelope import CloudEvent, make_event
from shared.events.owners import register_owner
from shared.events.publisher import EventPublisher, make_connection
from shared.events.registry import parse_event, register_event_type
from shared.events.relay import OutboxRelay
from shared.events.statements import execute_rows

BENCH_EVENT = "bench.tag.touched"
SERVICE = "bench"
DATABASE = "crm_bench_events"
VHOST = "crm_bench"
PREFETCH = 50  # Settings.prefetch's default
BATCH_SIZE = 500  # Settings.relay_batch_size's default
DELIVERY_LIMIT = 5
UNITS_OF_WORK = 4

# The benchmark event carries a tag's full state, validated like tag.updated on both ends.
register_event_type(BENCH_EVENT, TagStateData)
register_owner("bench", "guest")  # published as the broker user the benchmark logs in as


class BenchBase(DeclarativeBase):
    """Tables of the benchmark's consuming service (apart from the inbox)."""


class TagProjection(BenchBase):
    """What the handler writes: a consumer-side copy of the tag, as services keep projections."""

    __tablename__ = "bench_tag_projection"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    color: Mapped[str] = mapped_column(sa.String(7))
    version: Mapped[int] = mapped_column(sa.Integer, default=1)


@batch_handler
def project_tag(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """The handler: upsert the tags' projection in the consumer's transaction, one statement.

    As a service's projection handler would (set-based, through the backbone's `execute_rows`);
    the last state of a tag in the run wins.
    """
    execute_rows(uow.session, _UPSERT, _projection_rows(events))


@batch_handler
def project_tag_through_session(events: Sequence[CloudEvent], uow: UnitOfWork) -> None:
    """`project_tag` through `session.execute`, as handlers that do not use `execute_rows` do."""
    uow.session.execute(_UPSERT, _projection_rows(events))


def _projection_rows(events: Sequence[CloudEvent]) -> list[dict[str, Any]]:
    latest = {event.data["id"]: event.data for event in events}
    return [
        {"id": uuid.UUID(d["id"]), "name": d["name"], "color": d["color"]} for d in latest.values()
    ]


def _upsert() -> Any:
    table = table_of(TagProjection)
    statement = postgresql_insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={
            "name": statement.excluded.name,
            "color": statement.excluded.color,
            "version": table.c.version + 1,
        },
    )


_UPSERT = _upsert()


def tag_data(n: int) -> dict[str, Any]:
    """The data of the n-th benchmark event: a tag-sized payload."""
    now = datetime.now(UTC).isoformat()
    return {
        "id": str(uuid.uuid4()),
        "name": f"bench-tag-{n}",
        "description": "A tag written by the benchmark, about as long as a real description.",
        "color": "#3366cc",
        "order": n,
        "is_fixed": False,
        "created_at": now,
        "updated_at": now,
    }


class CountingDispatcher(EventDispatcher):
    """The shared dispatcher, noting when the expected number of events has been committed."""

    def __init__(
        self,
        service: str,
        handlers: Mapping[str, Sequence[Handler]],
        uow_factory: UnitOfWorkFactory,
        expected: int,
    ) -> None:
        super().__init__(service, handlers, uow_factory)
        self.expected = expected
        self.handled = 0
        self.last_commit = 0.0
        self.done = threading.Event()

    def dispatch_batch(self, events: Sequence[CloudEvent]) -> list[bool]:
        """Dispatch as usual (handlers and inbox committed), then count."""
        handled = super().dispatch_batch(events)
        if any(handled):
            self.handled += sum(handled)
            self.last_commit = time.perf_counter()
            if self.handled >= self.expected:
                self.done.set()
        return handled


@dataclass
class Run:
    """Timings of one end-to-end run."""

    delivered: int
    seconds: float
    publish_seconds: float

    def rate(self) -> float:
        """Messages per second end to end."""
        return self.delivered / self.seconds if self.seconds > 0 else 0.0

    def publish_rate(self, count: int) -> float:
        """Messages per second for publishing alone (confirmed by the broker)."""
        return count / self.publish_seconds if self.publish_seconds > 0 else 0.0


# --- ours: outbox, relay, EventConsumer ---------------------------------------------------------
def write_outbox(session_factory: sessionmaker[Session], count: int) -> float:
    """Emit `count` events in a few big units of work; the seconds it took."""
    uow_factory = UnitOfWorkFactory(session_factory, SERVICE)
    per_unit = -(-count // UNITS_OF_WORK)
    started = time.perf_counter()
    for first in range(0, count, per_unit):
        with uow_factory() as uow:
            for n in range(first, min(first + per_unit, count)):
                uow.emit(BENCH_EVENT, tag_data(n), subject=str(n))
            uow.commit()
    return time.perf_counter() - started


def count_rows(session_factory: sessionmaker[Session], table: Any) -> int:
    """How many rows a table holds."""
    with session_factory() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def run_ours(amqp_url: str, database_url: str, count: int, timeout: float) -> tuple[Run, float]:
    """Our path, end to end; and the seconds spent writing the outbox beforehand."""
    engine = make_engine(database_url)
    try:
        MessagingBase.metadata.create_all(engine)
        BenchBase.metadata.create_all(engine)
        session_factory = make_session_factory(engine)
        say(f"events: writing {count:,} events to the outbox")
        write_seconds = write_outbox(session_factory, count)
        return _relay_and_consume(amqp_url, session_factory, count, timeout), write_seconds
    finally:
        engine.dispose()


def _relay_and_consume(
    amqp_url: str, session_factory: sessionmaker[Session], count: int, timeout: float
) -> Run:
    dispatcher = CountingDispatcher(
        SERVICE,
        {BENCH_EVENT: [project_tag]},
        UnitOfWorkFactory(session_factory, SERVICE),
        expected=count,
    )
    consumer = EventConsumer(
        make_connection(amqp_url, heartbeat=10),
        dispatcher,
        EventPublisher(make_connection(amqp_url)),
        delivery_limit=DELIVERY_LIMIT,
        prefetch=PREFETCH,
    )
    relay_publisher = EventPublisher(make_connection(amqp_url))
    relay = OutboxRelay(session_factory, relay_publisher, SERVICE, batch_size=BATCH_SIZE)
    stop = threading.Event()
    relay_done: list[float] = []
    relay_errors: list[BaseException] = []

    def relay_all() -> None:
        # OutboxRelay.drain, with a way to stop it when the benchmark times out.
        try:
            while not stop.is_set() and relay.relay_once():
                pass
            relay_done.append(time.perf_counter())
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            relay_errors.append(exc)

    consumer_thread = threading.Thread(target=consumer.run, name="bench-consumer", daemon=True)
    relay_thread = threading.Thread(target=relay_all, name="bench-relay", daemon=True)
    try:
        consumer_thread.start()
        if not consumer.ready.wait(15):
            raise RuntimeError("the consumer did not start within 15 s")
        say("events: relaying and consuming (shared OutboxRelay + EventConsumer)")
        started = time.perf_counter()
        relay_thread.start()
        deadline = started + timeout
        while not dispatcher.done.wait(0.1) and not relay_errors:
            if time.perf_counter() > deadline:
                say(f"events: timed out after {timeout:.0f} s; reporting the partial rate")
                break
        if relay_errors:
            raise RuntimeError(f"the relay failed: {relay_errors[0]!r}")
        ended = dispatcher.last_commit if dispatcher.done.is_set() else time.perf_counter()
        delivered = dispatcher.handled
    finally:
        stop.set()
        consumer.should_stop = True
        relay_thread.join(15)
        consumer_thread.join(15)
        relay_publisher.close()
        consumer.dead_letters.close()
    inbox = count_rows(session_factory, InboxMessage.__table__)
    projected = count_rows(session_factory, TagProjection.__table__)
    if inbox != dispatcher.handled or projected != dispatcher.handled:
        say(f"events: inbox has {inbox} rows, projection {projected}, handled {dispatcher.handled}")
    relay_end = relay_done[0] if relay_done else ended
    return Run(delivered, ended - started, relay_end - started)


# --- baseline: raw pika -------------------------------------------------------------------------
class BatchConfirmPublisher:
    """Raw pika (SelectConnection): publish a batch, wait for every confirm, then the next one."""

    def __init__(
        self,
        parameters: pika.ConnectionParameters,
        exchange: str,
        routing_key: str,
        bodies: Sequence[bytes],
        batch_size: int,
        timeout: float,
    ) -> None:
        self.parameters = parameters
        self.timeout = timeout
        self.exchange = exchange
        self.routing_key = routing_key
        self.bodies = bodies
        self.batch_size = batch_size
        self.sent = 0
        self.next_tag = 0
        self.pending: set[int] = set()
        self.nacked = 0
        self.returned = 0
        self.error: BaseException | None = None
        self.finished_at = 0.0
        self.connection: pika.SelectConnection | None = None
        self.channel: Channel | None = None

    def run(self) -> None:
        """Publish every body; returns once all are confirmed (or the connection failed)."""
        self.connection = pika.SelectConnection(
            self.parameters,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_failure,
            on_close_callback=self._on_failure,
        )
        self.connection.ioloop.call_later(self.timeout, self._give_up)
        self.connection.ioloop.start()
        if self.error is not None:
            raise RuntimeError(f"raw publisher failed: {self.error!r}")

    def _give_up(self) -> None:
        if self.finished_at:
            return
        self.error = TimeoutError(f"not every message was confirmed within {self.timeout} s")
        assert self.connection is not None
        if self.connection.is_open:
            self.connection.close()  # stops the loop once closed
            self.connection.ioloop.call_later(5, self.connection.ioloop.stop)
        else:
            self.connection.ioloop.stop()

    def _on_failure(self, connection: Any, error: BaseException) -> None:
        if not self.finished_at and self.error is None:
            self.error = error
        connection.ioloop.stop()

    def _on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel: Channel) -> None:
        self.channel = channel
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(self._on_confirm, callback=lambda _frame: self._publish_batch())

    def _on_return(self, *_args: Any) -> None:
        self.returned += 1

    def _publish_batch(self) -> None:
        assert self.channel is not None
        properties = BasicProperties(
            content_type="application/json", content_encoding="utf-8", delivery_mode=2
        )
        for body in self.bodies[self.sent : self.sent + self.batch_size]:
            self.channel.basic_publish(
                self.exchange, self.routing_key, body, properties=properties, mandatory=True
            )
            self.next_tag += 1
            self.pending.add(self.next_tag)
        self.sent = min(self.sent + self.batch_size, len(self.bodies))

    def _on_confirm(self, frame: Method[Any]) -> None:
        method = frame.method
        tag = method.delivery_tag
        done = {t for t in self.pending if t <= tag} if method.multiple else {tag}
        if isinstance(method, Basic.Nack):
            self.nacked += len(done)
        self.pending -= done
        if self.pending:
            return
        if self.sent < len(self.bodies):
            self._publish_batch()
        else:
            self.finished_at = time.perf_counter()
            assert self.connection is not None
            self.connection.close()


class CountingRawConsumer:
    """Raw pika (BlockingConnection): prefetch like ours, ack each message, stop at `expected`."""

    def __init__(self, parameters: pika.ConnectionParameters, queue: str, expected: int) -> None:
        self.connection = pika.BlockingConnection(parameters)
        self.channel = self.connection.channel()
        self.channel.basic_qos(prefetch_count=PREFETCH)
        self.channel.basic_consume(queue, self._on_message)
        self.expected = expected
        self.acked = 0
        self.last_ack = 0.0
        self.done = threading.Event()
        self.error: BaseException | None = None

    def _on_message(
        self,
        channel: BlockingChannel,
        deliver: Basic.Deliver,
        _props: BasicProperties,
        _body: bytes,
    ) -> None:
        assert deliver.delivery_tag is not None
        channel.basic_ack(deliver.delivery_tag)
        self.acked += 1
        self.last_ack = time.perf_counter()
        if self.acked >= self.expected:
            self.done.set()
            channel.stop_consuming()

    def run(self) -> None:
        """Consume until stopped (in a thread)."""
        try:
            self.channel.start_consuming()
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            self.error = exc
            self.done.set()

    def stop(self) -> None:
        """Ask the consuming thread to stop (thread-safe)."""
        with contextlib.suppress(Exception):  # already closed
            self.connection.add_callback_threadsafe(self.channel.stop_consuming)

    def close(self) -> None:
        """Close the connection (once the consuming thread has stopped)."""
        with contextlib.suppress(Exception):
            self.connection.close()


def run_raw(amqp_url: str, count: int, timeout: float) -> Run:
    """Raw pika end to end: batch-confirmed persistent publishes, a prefetching acking consumer."""
    parameters = pika.URLParameters(amqp_url)
    exchange, queue, routing_key = "bench.raw", "bench_raw.events", BENCH_EVENT
    setup = pika.BlockingConnection(parameters)
    try:
        channel = setup.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_declare(
            queue,
            durable=True,
            arguments={"x-queue-type": "quorum", "x-delivery-limit": DELIVERY_LIMIT},
        )
        channel.queue_bind(queue, exchange, routing_key=routing_key)
    finally:
        setup.close()
    bodies = [
        make_event(BENCH_EVENT, tag_data(n), source=SERVICE, subject=str(n)).to_json().encode()
        for n in range(count)
    ]
    consumer = CountingRawConsumer(parameters, queue, count)
    thread = threading.Thread(target=consumer.run, name="bench-raw-consumer", daemon=True)
    publisher = BatchConfirmPublisher(
        parameters, exchange, routing_key, bodies, BATCH_SIZE, timeout
    )
    try:
        thread.start()
        say("events: raw pika baseline (batch-confirmed publisher + acking consumer)")
        started = time.perf_counter()
        publisher.run()
        finished = consumer.done.wait(max(0.0, started + timeout - time.perf_counter()))
        ended = consumer.last_ack if finished else time.perf_counter()
        delivered = consumer.acked
        if consumer.error is not None:
            raise RuntimeError(f"raw consumer failed: {consumer.error!r}")
        if not finished:
            say(f"events: raw baseline timed out after {timeout:.0f} s; reporting the partial rate")
        if publisher.nacked or publisher.returned:
            say(f"events: raw publisher saw {publisher.nacked} nacks, {publisher.returned} returns")
    finally:
        consumer.stop()
        thread.join(10)
        consumer.close()
    published = (publisher.finished_at or ended) - started
    return Run(delivered, ended - started, published)


# --- where the consumer's time goes: its transaction alone ---------------------------------------
TRANSACTION_BLOCK = 25  # transactions each side runs in turn, so that the load drifts alike


@dataclass
class Transactions:
    """Consumer transactions of one kind: how many, their wall-clock and CPU seconds."""

    count: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    def rate(self) -> float:
        """Transactions per second."""
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def cpu_microseconds(self) -> float:
        """This process's CPU time per transaction (the client's side of it), in µs."""
        return self.cpu_seconds / self.count * 1e6 if self.count else 0.0

    def add(self, count: int, run: Callable[..., None], *args: Any) -> None:
        """Time `run(*args)`, `count` transactions."""
        started, cpu_started = time.perf_counter(), time.process_time()
        run(*args)
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.process_time() - cpu_started
        self.count += count


def run_dispatch_only(
    database_url: str, count: int
) -> tuple[Transactions, Transactions, Transactions]:
    """EventDispatcher.dispatch without a broker (the handler through `execute_rows`, and
    through `session.execute`), and the same SQL raw: one transaction per event.

    The three take turns, a block of transactions each, so that a neighbour's load on the
    machine weighs on each alike rather than on whichever happened to run during it.
    """
    engine = make_engine(database_url)
    session_factory = make_session_factory(engine)
    uow_factory = UnitOfWorkFactory(session_factory, SERVICE)
    ours = EventDispatcher(SERVICE, {BENCH_EVENT: [project_tag]}, uow_factory)
    through_session = EventDispatcher(
        SERVICE, {BENCH_EVENT: [project_tag_through_session]}, uow_factory
    )
    events = [
        parse_event(make_event(BENCH_EVENT, tag_data(n), source=SERVICE).to_dict())
        for n in range(2 * count)
    ]
    url = make_url(database_url)
    say(f"events: {count:,} consumer transactions alone each, ours, through the session, raw")
    ours_tx, session_tx, raw_tx = Transactions(), Transactions(), Transactions()
    try:
        with psycopg.connect(
            host=url.host,
            port=url.port,
            user=url.username,
            password=url.password,
            dbname=url.database,
        ) as connection:
            for first in range(0, count, TRANSACTION_BLOCK):
                block = range(first, min(first + TRANSACTION_BLOCK, count))
                firsts, seconds = [events[n] for n in block], [events[count + n] for n in block]
                ours_tx.add(len(block), _dispatch_each, ours, firsts)
                session_tx.add(len(block), _dispatch_each, through_session, seconds)
                raw_tx.add(len(block), _raw_transactions, connection, len(block))
    finally:
        engine.dispose()
    return ours_tx, session_tx, raw_tx


def _dispatch_each(dispatcher: EventDispatcher, events: Sequence[CloudEvent]) -> None:
    """Dispatch the events, one transaction each."""
    for event in events:
        dispatcher.dispatch(event)


def _raw_transactions(connection: psycopg.Connection[Any], count: int) -> None:
    """`count` transactions of raw psycopg doing the consumer's work: the inbox insert for
    idempotency, the projection upsert, the commit."""
    for _ in range(count):
        event_id, tag_id = uuid.uuid4(), uuid.uuid4()
        connection.execute(
            "INSERT INTO inbox (source, event_id, type, received_at)"
            " VALUES ('guest', %s, %s, now())"
            " ON CONFLICT (source, event_id) DO NOTHING RETURNING event_id",
            (event_id, BENCH_EVENT),
        ).fetchall()
        connection.execute(
            "INSERT INTO bench_tag_projection (id, name, color, version)"
            " VALUES (%s, %s, %s, 1) ON CONFLICT (id) DO UPDATE"
            " SET name = excluded.name, color = excluded.color,"
            " version = bench_tag_projection.version + 1",
            (tag_id, "bench", "#3366cc"),
        )
        connection.commit()


def bench_events() -> list[Result]:
    """Events/s from outbox to committed handler, beside raw pika on the same broker."""
    # The consumer commits one transaction per event (100-250/s on 2 cores), so 20,000 events
    # would take minutes; 2,000 keep the benchmark around 25 s, and the timeout bounds it.
    count = env_int("CRM_BENCH_EVENTS", 2_000)
    timeout = env_float("CRM_BENCH_EVENTS_TIMEOUT", 25.0)
    transactions = env_int("CRM_BENCH_TRANSACTIONS", 500)
    amqp_url = fresh_vhost(VHOST)
    database_url = fresh_database(DATABASE)
    raw = run_raw(amqp_url, count, timeout)
    ours, write_seconds = run_ours(amqp_url, database_url, count, timeout)
    dispatched, through_session, raw_sql = run_dispatch_only(database_url, transactions)
    partial = "" if ours.delivered == count else f" (timed out: {ours.delivered:,} delivered)"
    return [
        Result(
            f"outbox->consumer, {count:,} events",
            ours.rate(),
            "ev/s",
            raw.rate(),
            note="relay start to last handler commit"
            + partial
            + "; baseline: raw pika, batch confirms, quorum queue, prefetch 50, ack each",
        ),
        Result(
            "relay publish (batches of 500)",
            ours.publish_rate(count),
            "ev/s",
            raw.publish_rate(count),
            note="outbox read, publish, confirms, mark sent (consumer running); baseline: publish",
        ),
        Result(
            "consumer transaction alone",
            dispatched.rate(),
            "tx/s",
            raw_sql.rate(),
            note="EventDispatcher.dispatch of one event, no broker, the handler's upsert through "
            "execute_rows; baseline: the same two statements (inbox insert, projection upsert) "
            "+ commit, raw psycopg",
        ),
        Result(
            "consumer transaction, handler via session",
            through_session.rate(),
            "tx/s",
            raw_sql.rate(),
            note="the same, the handler's upsert through session.execute (handlers that do not "
            "use execute_rows)",
        ),
        Result(
            "consumer transaction CPU",
            dispatched.cpu_microseconds(),
            "us/tx",
            raw_sql.cpu_microseconds(),
            higher_is_better=False,
            note="this process's CPU per transaction, ours (execute_rows) vs raw psycopg: the "
            "part of the ratio above that is ours, whatever the disk's commit time; via "
            f"session.execute: {through_session.cpu_microseconds():.0f} us/tx",
        ),
        Result(
            "outbox write (emit, 4 units of work)",
            count / write_seconds if write_seconds > 0 else 0.0,
            "ev/s",
            None,
        ),
    ]
