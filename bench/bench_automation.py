"""Automation end to end over the real RabbitMQ and PostgreSQL, each figure beside its raw
baseline measured in the same run (issue 13):

- latency: `billing.payment.recorded` for a lead, published as billing does (its own broker
  user), until `GET /customers/{id}` answers `active`, at a steady rate; beside raw pika's
  publish-to-receipt at the same rate (`bench_latency.run_raw`);
- throughput: the same events as fast as they go, through the whole pipeline (automation's facts
  and rules, `automation.action_requested`, customers, `customer.status_changed` committed);
  beside raw pika's round trip of as many messages (`bench_events.run_raw`);
- the inactivity sweep over `CRM_BENCH_AUTOMATION_FACTS` customers' facts: finding who is due
  through the sweep's own statement, beside the raw SQL of the same selection; then their status
  changes drained through the pipeline, in chunks of `sweep.CHUNK`.

The customers and automation workers run as their own processes (`crm worker`), as deployed;
the customers API is gunicorn. Customers and facts are seeded directly in the databases, as if
their `customer.created` had been handled.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from bench import bench_events, bench_latency
from bench.automation_suite import VHOST, Suite, seed_customers, seed_more_facts
from bench.bench_latency import percentile
from bench.harness import Result, env_float, env_int, fresh_vhost, say
from bench.servers import WORKERS, get
from services.automation.sweep import CHUNK, due_for_inactivity, run_sweep
from shared.db import UnitOfWorkFactory, make_engine, make_session_factory, utcnow
from shared.events.envelope import make_event
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection

PAYMENT = "billing.payment.recorded"
PUBLISH_BATCH = 500
INACTIVITY_DAYS = 180  # the setting's default, as migrated
LATENCY_GOAL_MS = 500.0
THROUGHPUT_GOAL = 0.15
FINDING_GOAL = 2.0
WARM_UP = 200  # payments through the pipeline before measuring (caches, connections)
WATCHED = 400  # the oldest customers waiting that each poll of the latency run looks at


# --- measures -----------------------------------------------------------------------------------
def _payment(customer_id: uuid.UUID) -> OutgoingMessage:
    data = {"customer_id": str(customer_id), "amount": "10.00", "currency": "EUR"}
    event = make_event(PAYMENT, data, source="billing", subject=str(customer_id))
    return OutgoingMessage(routing_key=PAYMENT, body=event.to_json(), message_id=event.id)


def run_latency(
    suite: Suite, customers: Sequence[uuid.UUID], rate: float, gets: bool = True
) -> tuple[list[float], dict[str, list[float]]]:
    """Seconds from each payment's publish to `GET /customers/{id}` showing `active`; and the
    milliseconds of each stage of it (`STAGES`), for the figure's note. Without `gets`: until
    the watcher's query sees the status committed (no GET, nor its load on the machine)."""
    published: dict[uuid.UUID, float] = {}
    polled: dict[uuid.UUID, float] = {}  # when the watcher's query first saw it active
    seen: dict[uuid.UUID, float] = {}
    probing: set[uuid.UUID] = set()  # a GET on its way
    done = threading.Event()

    def probe(customer_id: uuid.UUID) -> None:
        status, body = get(suite.api.port, f"/customers/{customer_id}", suite.headers)
        if status == 200 and json.loads(body)["status"] == "active":
            seen[customer_id] = time.perf_counter()
        probing.discard(customer_id)

    def watch() -> None:
        # A cheap query says which customers changed; a GET then shows it, timed. The GETs go
        # out side by side (as many as the API has workers), as many clients would send them:
        # one after the other, the watcher's own queue of GETs would be part of the figure.
        with (
            psycopg.connect(suite.dsn("customers"), autocommit=True) as connection,
            ThreadPoolExecutor(WORKERS) as getters,
        ):
            while not done.is_set() or len(seen) < len(published):
                # The oldest still waiting (published in order, handled mostly in order): a
                # poll over every one of a backlog costs the database as much as the pipeline.
                waiting = [c for c in list(published) if c not in seen and c not in probing]
                waiting = waiting[:WATCHED]
                if waiting:
                    changed = connection.execute(
                        "SELECT id FROM customers WHERE id = ANY(%s) AND status = 'active'",
                        (waiting,),
                    ).fetchall()
                    for (customer_id,) in changed:
                        polled.setdefault(customer_id, time.perf_counter())
                        if not gets:
                            seen[customer_id] = polled[customer_id]
                            continue
                        probing.add(customer_id)
                        getters.submit(probe, customer_id)
                if done.is_set() and time.perf_counter() > deadline[0]:
                    return
                time.sleep(0.005)

    deadline = [float("inf")]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    publisher = EventPublisher(make_connection(suite.billing_url), identity="billing")
    say(f"automation: latency, {len(customers):,} payments at {rate:.0f}/s")
    try:
        for n in bench_latency._paced(len(customers), rate):
            message = _payment(customers[n])
            published[customers[n]] = time.perf_counter()
            publisher.publish_batch([message])
        deadline[0] = time.perf_counter() + 30
        done.set()
        watcher.join(35)
    finally:
        publisher.close()
    return [seen[c] - published[c] for c in published if c in seen], _stages(
        suite, published, polled, seen
    )


STAGES = ("published->status written", "->seen by the poll", "->GET answered")


def _stages(
    suite: Suite,
    published: dict[uuid.UUID, float],
    polled: dict[uuid.UUID, float],
    seen: dict[uuid.UUID, float],
) -> dict[str, list[float]]:
    """Milliseconds of each stage of the payments seen: until the customers worker wrote the
    status (its `status_changed_at`, taken before its commit, by the same clock), until the
    watcher's query saw it committed, until the GET answered it."""
    offset = time.time() - time.perf_counter()  # perf_counter -> the wall clock
    with psycopg.connect(suite.dsn("customers"), autocommit=True) as connection:
        written: dict[uuid.UUID, float] = dict(
            connection.execute(
                "SELECT id, extract(epoch FROM status_changed_at) FROM customers"
                " WHERE id = ANY(%s)",
                (list(seen),),
            ).fetchall()
        )
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    for customer_id, answered in seen.items():
        at = float(written[customer_id]) - offset
        stages[STAGES[0]].append((at - published[customer_id]) * 1000)
        stages[STAGES[1]].append((polled[customer_id] - at) * 1000)
        stages[STAGES[2]].append((answered - polled[customer_id]) * 1000)
    return stages


def _stage_note(stages: dict[str, list[float]]) -> str:
    return "; stages p50/p99 ms: " + ", ".join(
        f"{name} {statistics.median(values):.0f}/{percentile(values, 0.99):.0f}"
        for name, values in stages.items()
        if values
    )


def _count_status(suite: Suite, customers: Sequence[uuid.UUID], status: str) -> int:
    with psycopg.connect(suite.dsn("customers"), autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM customers WHERE id = ANY(%s) AND status = %s",
            (list(customers), status),
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_for(
    suite: Suite, customers: Sequence[uuid.UUID], status: str, timeout: float
) -> tuple[float, int]:
    """When (perf_counter) every customer has `status`, or the timeout; how many have it."""
    deadline = time.perf_counter() + timeout
    while True:
        count = _count_status(suite, customers, status)
        now = time.perf_counter()
        if count >= len(customers) or now > deadline:
            return now, count
        time.sleep(0.05)


def run_throughput(
    suite: Suite, customers: Sequence[uuid.UUID], timeout: float
) -> tuple[float, int]:
    """Seconds from the first payment published to the last customer active; how many."""
    messages = [_payment(customer_id) for customer_id in customers]
    publisher = EventPublisher(make_connection(suite.billing_url), identity="billing")
    say(f"automation: throughput, {len(messages):,} payments through the whole pipeline")
    try:
        started = time.perf_counter()
        for first in range(0, len(messages), PUBLISH_BATCH):
            publisher.publish_batch(messages[first : first + PUBLISH_BATCH])
        ended, count = _wait_for(suite, customers, "active", timeout)
    finally:
        publisher.close()
    return ended - started, count


def run_finding(suite: Suite, now: datetime, rounds: int) -> tuple[float, float, int]:
    """Best seconds of the sweep's own statement finding everyone due (whole set, through
    SQLAlchemy), and of the raw SQL of the same selection (psycopg); how many are due."""
    engine = make_engine(suite.database_urls["automation"])
    statement = due_for_inactivity(now, INACTIVITY_DAYS)
    raw_sql = (
        "SELECT f.customer_id, f.status, coalesce(f.last_interaction_at, f.since)"
        " FROM customer_facts f WHERE f.known AND NOT f.deleted"
        " AND f.status IN ('active', 'vip')"
        " AND coalesce(f.last_interaction_at, f.since) <= %(cutoff)s"
        " AND NOT EXISTS (SELECT 1 FROM rule_firings r WHERE r.rule_id = 'inactivity'"
        " AND r.fact_key = %(fact)s AND r.customer_id = f.customer_id)"
        " ORDER BY f.customer_id"
    )
    parameters = {
        "cutoff": now - timedelta(days=INACTIVITY_DAYS),
        "fact": f"day:{now.date().isoformat()}",
    }
    ours, raw, found = [], [], 0
    try:
        with (
            make_session_factory(engine)() as session,
            psycopg.connect(suite.dsn("automation"), autocommit=True) as connection,
        ):
            for _ in range(rounds):
                started = time.perf_counter()
                found = len(session.execute(statement).all())
                ours.append(time.perf_counter() - started)
                session.rollback()
                started = time.perf_counter()
                raw_found = len(connection.execute(raw_sql, parameters).fetchall())
                raw.append(time.perf_counter() - started)
                if raw_found != found:
                    raise RuntimeError(f"ours found {found:,} due, the raw SQL {raw_found:,}")
    finally:
        engine.dispose()
    return min(ours), min(raw), found


def run_drain(
    suite: Suite, due: Sequence[uuid.UUID], now: datetime, timeout: float
) -> tuple[float, float, int, int]:
    """The sweep (chunks of `CHUNK`), then its status changes through the pipeline: seconds of
    the sweep alone, seconds until every due customer is inactive, how many are, firings."""
    engine = make_engine(suite.database_urls["automation"])
    try:
        uow_factory = UnitOfWorkFactory(make_session_factory(engine), "automation")
        say(f"automation: sweep over the facts, {len(due):,} due, chunks of {CHUNK:,}")
        started = time.perf_counter()
        fired = run_sweep(uow_factory, clock=lambda: now)
        swept = time.perf_counter() - started
        ended, count = _wait_for(suite, due, "inactive", timeout)
        again = run_sweep(uow_factory, clock=lambda: now)
    finally:
        engine.dispose()
    if again:
        raise RuntimeError(f"the second sweep of the day fired {again} rules")
    return swept, ended - started, count, fired


# --- the benchmark ------------------------------------------------------------------------------
def bench_automation() -> list[Result]:
    """Latency, throughput and the inactivity sweep of automation, beside raw baselines."""
    rate = env_float("CRM_BENCH_AUTOMATION_RATE", 200.0)
    latency_events = env_int("CRM_BENCH_AUTOMATION_LATENCY_EVENTS", 2_000)
    events = env_int("CRM_BENCH_AUTOMATION_EVENTS", 5_000)
    facts = env_int("CRM_BENCH_AUTOMATION_FACTS", 200_000)
    due = env_int("CRM_BENCH_AUTOMATION_DUE", max(1, facts // 20))
    timeout = env_float("CRM_BENCH_AUTOMATION_TIMEOUT", 180.0)
    vhost_url = fresh_vhost(VHOST)
    say(f"automation: raw pika baselines ({latency_events:,} at {rate:.0f}/s, {events:,} at once)")
    raw_latency = [s * 1000 for s in bench_latency.run_raw(vhost_url, latency_events, rate)]
    raw_run = bench_events.run_raw(vhost_url, events, timeout)
    with tempfile.TemporaryDirectory(prefix="crm_bench_automation_") as scratch:
        suite = Suite(vhost_url, Path(scratch))
        say(f"automation: seeding {latency_events + events:,} leads and {due:,} active customers")
        leads, actives = seed_customers(suite, WARM_UP + 2 * latency_events + events, due)
        warm, leads = leads[:WARM_UP], leads[WARM_UP:]
        quiet, leads = leads[:latency_events], leads[latency_events:]
        try:
            suite.start(warm[0])
            say(f"automation: warming up with {WARM_UP} payments (not measured)")
            run_throughput(suite, warm, timeout)
            latencies, stages = run_latency(suite, leads[:latency_events], rate)
            say(f"automation: latency again, {latency_events:,} payments, no GET (poll only)")
            committed = [s * 1000 for s in run_latency(suite, quiet, rate, gets=False)[0]]
            latency = [s * 1000 for s in latencies]
            seconds, converted = run_throughput(suite, leads[latency_events:], timeout)
            load = os.getloadavg()[0]
            more = max(0, facts - due - latency_events - events)
            say(f"automation: seeding {more:,} more customers' facts ({facts:,} in all)")
            seed_more_facts(suite, more)
            now = utcnow()
            ours_find, raw_find, found = run_finding(suite, now, rounds=3)
            swept, drained, inactive, fired = run_drain(suite, actives, now, timeout)
        finally:
            suite.stop()
    throughput = converted / seconds if seconds > 0 else 0.0
    drain_rate = inactive / drained if drained > 0 else 0.0
    late = "" if len(latency) == latency_events else f"; {latency_events - len(latency)} late"
    return [
        *_p50_p99(
            "payment->GET active",
            latency,
            raw_latency,
            note=f"{latency_events:,} billing.payment.recorded at {rate:.0f}/s, each a lead's"
            " first; seen by a 5 ms poll, then GET /customers/{id}"
            + f" ({WORKERS} at once, as many as the API's workers)"
            + late
            + _stage_note(stages)
            + "; baseline: raw pika publish (confirms) to receipt at the same rate",
            goal=f"p99 < {LATENCY_GOAL_MS:.0f} ms",
        ),
        *_p50_p99(
            "payment->status committed",
            committed,
            raw_latency,
            note="the same at the same rate, seen committed by the 5 ms poll, without the GETs"
            " (200 GETs/s cost the API and the client ~0.35 of a core, half the two workers'"
            " on this 2-core machine); baseline: raw pika as above",
        ),
        Result(
            f"pipeline, {events:,} payments",
            throughput,
            "ev/s",
            raw_run.rate(),
            goal=f">= {THROUGHPUT_GOAL}x raw",
            note="published by billing -> automation facts and rules -> action_requested ->"
            " customers -> customer.status_changed committed, workers as processes"
            + ("" if converted == events else f" (timed out: {converted:,} converted)")
            + "; baseline: raw pika round trip of as many messages (batch confirms, quorum queue)"
            + f"; machine load average {load:.1f} on {os.cpu_count()} cores",
        ),
        Result(
            f"sweep: finding the due among {facts:,} facts",
            ours_find * 1000,
            "ms",
            raw_find * 1000,
            higher_is_better=False,
            goal=f"<= {FINDING_GOAL}x raw",
            note=f"{found:,} due; the sweep's statement through SQLAlchemy, best of 3; baseline:"
            " the same selection as raw SQL (psycopg)",
        ),
        Result(
            f"sweep: {fired:,} status changes drained",
            drain_rate,
            "ev/s",
            raw_run.rate(),
            note=f"sweep {swept:.1f} s in chunks of {CHUNK:,} (one transaction each), drained in"
            f" {drained:.1f} s ({inactive:,} inactive); the pipeline's own rate above:"
            f" {throughput:,.0f} ev/s; baseline: raw pika round trip",
        ),
    ]


def _p50_p99(
    name: str, ours: Sequence[float], raw: Sequence[float], note: str, goal: str = ""
) -> list[Result]:
    """A latency's p50 (with the note) and p99 (with the goal), beside raw's, in milliseconds."""
    return [
        Result(
            f"{name} p50",
            statistics.median(ours) if ours else 0.0,
            "ms",
            statistics.median(raw) if raw else None,
            higher_is_better=False,
            note=note,
        ),
        Result(
            f"{name} p99",
            percentile(ours, 0.99),
            "ms",
            percentile(raw, 0.99),
            higher_is_better=False,
            goal=goal,
        ),
    ]
