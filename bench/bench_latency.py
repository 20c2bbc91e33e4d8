"""Commit-to-handled latency of the event backbone at a steady rate, beside raw pika's round trip
at the same rate; and the recolour probe of the embedded suite (a tag's new colour shown on its
customer), as a front end sees it; with CRM_BENCH_SUITE_URL (e.g. http://127.0.0.1:8000 while
`make stack` runs), the same probe through that suite's gateway as well.

Ours: a writer commits one event per transaction at `CRM_BENCH_LATENCY_RATE` (200/s); the relay
(`OutboxRelay.run`, woken by PostgreSQL's NOTIFY only: the writer's engine names the database
differently, so the in-process signal cannot reach the relay, as between a web process and its
worker) publishes it; `EventConsumer` handles it (a projection upsert) and commits. Latency is
the handler's commit minus the writer's commit. Raw: a pika publisher with publisher confirms
sends the same bodies at the same rate to a quorum queue read by an acking pika consumer;
latency is receipt minus the publish call.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pika
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.bench_events import (
    BENCH_EVENT,
    SERVICE,
    BenchBase,
    project_tag,
    tag_data,
)
from bench.harness import Result, env_float, env_int, fresh_database, fresh_vhost, say
from bench.recolour import SCOPES, development_token, http_call, probe
from shared.db import (
    MessagingBase,
    UnitOfWorkFactory,
    make_engine,
    make_session_factory,
)
from shared.events.consumer import EventConsumer, EventDispatcher
from shared.events.envelope import CloudEvent, make_event
from shared.events.publisher import EventPublisher, make_connection
from shared.events.relay import OutboxRelay

VHOST = "crm_bench_latency"
DATABASE = "crm_bench_latency"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def _paced(count: int, rate: float) -> Any:
    """Yield `count` times, one every 1/rate seconds (a steady rate, catching up when late)."""
    started = time.perf_counter()
    for n in range(count):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield n


# --- ours ---------------------------------------------------------------------------------------
def run_ours(amqp_url: str, database_url: str, count: int, rate: float) -> list[float]:
    """Commit-to-handled latencies (seconds) of `count` events written at `rate` per second."""
    engine = make_engine(database_url)
    MessagingBase.metadata.create_all(engine)
    BenchBase.metadata.create_all(engine)
    # The writer's engine names the database by "localhost": the relay's in-process wake-up
    # (keyed by the database's URL) cannot reach it, only NOTIFY does, as across processes.
    url = make_url(database_url)
    writer_engine = make_engine(url.set(host="localhost").render_as_string(hide_password=False))
    committed: dict[int, float] = {}
    handled: dict[int, float] = {}

    class TimingDispatcher(EventDispatcher):
        def dispatch_batch(self, events: Sequence[CloudEvent]) -> list[bool]:
            outcome = super().dispatch_batch(events)
            now = time.perf_counter()
            for event in events:
                handled.setdefault(int(event.subject or 0), now)
            return outcome

    session_factory: sessionmaker[Session] = make_session_factory(engine)
    dispatcher = TimingDispatcher(
        SERVICE, {BENCH_EVENT: [project_tag]}, UnitOfWorkFactory(session_factory, SERVICE)
    )
    consumer = EventConsumer(
        make_connection(amqp_url, heartbeat=10),
        dispatcher,
        EventPublisher(make_connection(amqp_url)),
        prefetch=50,
    )
    relay = OutboxRelay(session_factory, EventPublisher(make_connection(amqp_url)), SERVICE)
    stop = threading.Event()
    threads = [
        threading.Thread(target=consumer.run, daemon=True),
        threading.Thread(target=relay.run, args=(stop, 5.0), daemon=True),
    ]
    try:
        for thread in threads:
            thread.start()
        if not consumer.ready.wait(15):
            raise RuntimeError("the consumer did not start")
        time.sleep(1.0)  # the relay's LISTEN is in place
        writer = UnitOfWorkFactory(make_session_factory(writer_engine), SERVICE)
        say(f"latency: ours, {count:,} events at {rate:.0f}/s")
        for n in _paced(count, rate):
            with writer() as uow:
                uow.emit(BENCH_EVENT, tag_data(n), subject=str(n))
                uow.commit()
            committed[n] = time.perf_counter()
        deadline = time.perf_counter() + 30
        while len(handled) < count and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        consumer.should_stop = True
        for thread in threads:
            thread.join(10)
        relay.publisher.close()
        consumer.dead_letters.close()
        engine.dispose()
        writer_engine.dispose()
    return [handled[n] - committed[n] for n in committed if n in handled]


# --- raw pika -----------------------------------------------------------------------------------
def run_raw(amqp_url: str, count: int, rate: float) -> list[float]:
    """Publish-to-receipt latencies of raw pika (confirmed persistent publishes) at `rate`."""
    parameters = pika.URLParameters(amqp_url)
    exchange, queue = "bench.latency", "bench_latency.events"
    setup = pika.BlockingConnection(parameters)
    channel = setup.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_bind(queue, exchange, routing_key=BENCH_EVENT)
    setup.close()
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    done = threading.Event()

    def consume() -> None:
        connection = pika.BlockingConnection(parameters)
        channel = connection.channel()
        channel.basic_qos(prefetch_count=50)
        for method, properties, _body in channel.consume(queue, inactivity_timeout=1):
            if method is None:
                if done.is_set():
                    break
                continue
            received[properties.message_id] = time.perf_counter()
            channel.basic_ack(method.delivery_tag)
            if len(received) >= count:
                break
        channel.cancel()
        connection.close()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.5)
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    channel.confirm_delivery()
    say(f"latency: raw pika, {count:,} messages at {rate:.0f}/s")
    try:
        for n in _paced(count, rate):
            message_id = str(uuid.uuid4())
            body = make_event(BENCH_EVENT, tag_data(n), source=SERVICE).to_json().encode()
            sent[message_id] = time.perf_counter()
            channel.basic_publish(
                exchange,
                BENCH_EVENT,
                body,
                properties=pika.BasicProperties(
                    content_type="application/json", delivery_mode=2, message_id=message_id
                ),
            )
        deadline = time.perf_counter() + 30
        while len(received) < count and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        consumer.join(10)
        connection.close()
    return [received[m] - sent[m] for m in sent if m in received]


# --- the recolour probe, embedded -----------------------------------------------------------
def recolour_probe(rounds: int) -> list[float]:
    """Seconds from `PATCH /tags/{id}` (new colour) to `GET /customers/{id}` showing it, in the
    embedded suite (one process: SQLite, the in-memory broker), through its WSGI app."""
    from shared.auth.issuing import issue_token
    from shared.settings import Settings
    from shared.suite import EmbeddedSuite

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), mail_dir=Path(tmp) / "mail")
        suite = EmbeddedSuite(settings).start()
        try:
            return _probe(suite, settings, rounds, issue_token)
        finally:
            suite.stop()


def _probe(suite: Any, settings: Any, rounds: int, issue_token: Any) -> list[float]:
    from werkzeug.test import Client

    client = Client(suite.wsgi)
    token = issue_token(settings, "staff:bench", SCOPES, audience=["tags", "customers"])
    headers = {"Authorization": f"Bearer {token}"}

    def call(method: str, path: str, body: Any) -> tuple[int, Any]:
        response = client.open(path, method=method, json=body, headers=headers)
        return response.status_code, response.get_json(silent=True)

    latencies, _ = probe(call, rounds)
    return latencies


def suite_probe(base_url: str, rounds: int) -> list[float]:
    """The same rounds through a running suite's gateway (`make run` or `make stack`)."""
    token = development_token()
    latencies, _ = probe(http_call(base_url.rstrip("/"), token), rounds)
    return latencies


def bench_latency() -> list[Result]:
    """p50 and p99 of commit-to-handled at a steady rate (ours, raw pika); the recolour probe."""
    rate = env_float("CRM_BENCH_LATENCY_RATE", 200.0)
    count = env_int("CRM_BENCH_LATENCY_EVENTS", 2_000)
    rounds = env_int("CRM_BENCH_PROBE_ROUNDS", 40)
    amqp_url = fresh_vhost(VHOST)
    database_url = fresh_database(DATABASE)
    raw = [s * 1000 for s in run_raw(amqp_url, count, rate)]
    ours = [s * 1000 for s in run_ours(amqp_url, database_url, count, rate)]
    say(f"latency: recolour probe, {rounds} rounds (embedded suite)")
    probe = [s * 1000 for s in recolour_probe(rounds)]
    suite_url = os.environ.get("CRM_BENCH_SUITE_URL", "")
    lost = "" if len(ours) == count else f"; {count - len(ours)} not handled in time"
    note = f"{count:,} events at {rate:.0f}/s; baseline: raw pika publish (confirms) to receipt"
    return [
        Result(
            "commit->handled p50",
            statistics.median(ours) if ours else 0.0,
            "ms",
            statistics.median(raw) if raw else None,
            higher_is_better=False,
            note=note + lost,
        ),
        Result(
            "commit->handled p99",
            percentile(ours, 0.99),
            "ms",
            percentile(raw, 0.99),
            higher_is_better=False,
            goal="p99 well under 100 ms",
        ),
        Result(
            "recolour probe p50 (embedded)",
            statistics.median(probe),
            "ms",
            None,
            higher_is_better=False,
            goal="< 30 ms",
        ),
        Result(
            "recolour probe p95 (embedded)",
            percentile(probe, 0.95),
            "ms",
            None,
            higher_is_better=False,
            goal="< 100 ms",
        ),
        *_suite_results(suite_url, rounds),
    ]


def _suite_results(suite_url: str, rounds: int) -> list[Result]:
    """The probe through a running suite's gateway, when CRM_BENCH_SUITE_URL names one (e.g.
    http://127.0.0.1:8000 with `make stack` up); nothing otherwise."""
    if not suite_url:
        return []
    say(f"latency: recolour probe, {rounds} rounds through {suite_url}")
    through = [s * 1000 for s in suite_probe(suite_url, rounds)]
    return [
        Result(
            "recolour probe p50 (suite)",
            statistics.median(through),
            "ms",
            None,
            higher_is_better=False,
            goal="< 30 ms",
            note=suite_url,
        ),
        Result(
            "recolour probe p95 (suite)",
            percentile(through, 0.95),
            "ms",
            None,
            higher_is_better=False,
            goal="< 100 ms",
        ),
    ]
