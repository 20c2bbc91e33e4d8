"""The customers timeline and summary (issue 15), each figure beside its raw baseline measured in
the same run:

- N external events (billing purchases, invoices and payments, support requests; N from
  `CRM_BENCH_TIMELINE_EVENTS`, default 20,000; the issue's figure is 100,000), published to
  RabbitMQ as billing and support do (their own broker users, batches confirmed), out of order
  in time, until every timeline entry and summary is committed by the customers worker (its own
  process, `crm worker customers`, as deployed); beside raw pika's round trip of as many
  messages (`bench_events.run_raw`: batch-confirmed publishes, an acking consumer);
- `GET /customers/{id}/timeline` p95 (gunicorn) for a customer with
  `CRM_BENCH_TIMELINE_ENTRIES` entries (default 100,000, inserted set-based), the first page and
  pages deep down the keyset, each request followed by the raw SQL of the same page.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pika
import psycopg
from sqlalchemy.engine import make_url

from bench import bench_events
from bench.harness import Result, env_float, env_int, fresh_database, fresh_vhost, say
from bench.servers import ROOT
from bench.timeline_pages import run_pages, seed_entries
from services.customers.models import Customer
from shared.broker import setup_development_broker
from shared.db import make_engine, make_session_factory
from shared.events.envelope import make_event
from shared.events.owners import broker_user, development_broker_password
from shared.events.publisher import EventPublisher, OutgoingMessage, make_connection
from shared.migrations import migrate
from shared.settings import Settings
from shared.suite import declare_broker_topology

VHOST = "crm_bench_timeline"
DATABASE = "crm_bench_timeline"
CUSTOMERS = 1_000
PUBLISH_BATCH = 500
THROUGHPUT_GOAL = 0.2
PAGE_GOAL = 3.0
CLI = "from shared.cli import main; main()"
# Out of every 10 events: 4 purchases, 2 invoices, 2 payments (billing), 2 support requests.
MIX = ("purchase",) * 4 + ("invoice",) * 2 + ("payment",) * 2 + ("support",) * 2


def _user_url(vhost_url: str, user: str) -> str:
    setup_development_broker([user], 5, VHOST)
    return vhost_url.replace("guest:guest", f"{user}:{development_broker_password(user)}")


def _dsn(database_url: str) -> str:
    url = make_url(database_url)
    return f"host={url.host} port={url.port} user={url.username} dbname={url.database}"


def seed_customers(database_url: str, count: int) -> list[uuid.UUID]:
    """`count` customers, French and English; their ids."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            customers = [
                Customer(
                    id=uuid.uuid4(),
                    kind="individual",
                    first_name="Ada",
                    last_name=f"Bench {n}",
                    language=("fr", "en")[n % 2],
                )
                for n in range(count)
            ]
            session.add_all(customers)
            session.commit()
            return [customer.id for customer in customers]
    finally:
        engine.dispose()


def external_events(
    customers: Sequence[uuid.UUID], count: int
) -> tuple[dict[str, list[OutgoingMessage]], int, Decimal]:
    """The events by publishing system, dated over the last 30 days out of order; how many
    purchases, and their total (EUR)."""
    now = datetime.now(UTC)
    messages: dict[str, list[OutgoingMessage]] = {"billing": [], "support": []}
    purchases, revenue = 0, Decimal(0)
    for n in range(count):
        customer = str(customers[n % len(customers)])
        kind = MIX[n % len(MIX)]
        amount = f"{(n % 9000) / 100 + 1:.2f}"
        if kind == "purchase":
            purchases += 1
            revenue += Decimal(amount)
            type_, data = "billing.purchase.completed", {
                "customer_id": customer, "amount": amount, "currency": "EUR",
                "order_reference": f"O-{n}",
            }  # fmt: skip
        elif kind == "invoice":
            type_, data = "billing.invoice.issued", {
                "customer_id": customer, "amount": amount, "currency": "EUR",
                "invoice_number": f"F-{n}",
            }  # fmt: skip
        elif kind == "payment":
            type_ = "billing.payment.recorded"
            data = {"customer_id": customer, "amount": amount, "currency": "EUR"}
        else:
            type_ = "support.request.created"
            data = {"customer_id": customer, "title": f"Request {n}"}
        system = type_.split(".")[0]
        # Spread over 30 days, not in the order published.
        when = now - timedelta(seconds=(n * 7919) % (30 * 86400))
        event = dataclasses.replace(
            make_event(type_, data, source=system, subject=customer),
            time=when.isoformat().replace("+00:00", "Z"),
        )
        messages[system].append(
            OutgoingMessage(routing_key=type_, body=event.to_json(), message_id=event.id)
        )
    return messages, purchases, revenue


class Worker:
    """The customers worker as its own process (`crm worker customers`)."""

    def __init__(self, database_url: str, broker_url: str, log: Path) -> None:
        self.broker_url = broker_url
        env = {
            **{k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"},
            "CRM_ENV": "development",
            "CRM_LOG_LEVEL": "WARNING",
            "CRM_CUSTOMERS_DATABASE_URL": database_url,
            "CRM_CUSTOMERS_BROKER_URL": broker_url,
        }
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from shared.cli import main; main()",
                    "worker",
                    "customers",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not self._consuming():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the customers worker did not start; see {log}")
            time.sleep(0.2)

    def _consuming(self) -> bool:
        connection = pika.BlockingConnection(pika.URLParameters(self.broker_url))
        try:
            declared = connection.channel().queue_declare("customers.events", passive=True)
            return bool(declared.method.consumer_count)
        finally:
            connection.close()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def run_ours(
    dsn: str, urls: dict[str, str], messages: dict[str, list[OutgoingMessage]], timeout: float
) -> tuple[float, int]:
    """Seconds from the first publish to the last entry (and its summary) committed; how many
    entries were committed by then."""
    count = sum(len(batch) for batch in messages.values())
    publishers = {
        system: EventPublisher(make_connection(urls[system]), identity=system)
        for system in messages
    }
    with psycopg.connect(dsn, autocommit=True) as connection:
        say(f"timeline: publishing {count:,} events as billing and support")
        started = time.perf_counter()
        try:
            for first in range(0, max(len(batch) for batch in messages.values()), PUBLISH_BATCH):
                for system, batch in messages.items():
                    publishers[system].publish_batch(batch[first : first + PUBLISH_BATCH])
        finally:
            for publisher in publishers.values():
                publisher.close()
        say(f"timeline: published in {time.perf_counter() - started:.1f} s; waiting for commits")
        committed = 0
        while time.perf_counter() - started < timeout:
            # The summary is updated in the transaction that adds the entries.
            committed = _scalar(connection, "SELECT count(*) FROM timeline_entries")
            if committed >= count:
                break
            time.sleep(0.2)  # counting a growing table steals from the worker
        return time.perf_counter() - started, committed


def _scalar(connection: psycopg.Connection[Any], sql: str, *params: Any) -> Any:
    row = connection.execute(sql, params).fetchone()
    return row[0] if row else None


def bench_timeline() -> list[Result]:
    """Events to committed timeline and summary, and a deep timeline's pages, beside raw."""
    count = env_int("CRM_BENCH_TIMELINE_EVENTS", 20_000)
    entries = env_int("CRM_BENCH_TIMELINE_ENTRIES", 100_000)
    requests = env_int("CRM_BENCH_TIMELINE_REQUESTS", 500)
    timeout = env_float("CRM_BENCH_TIMELINE_TIMEOUT", 600.0)
    say(f"timeline: N = {count:,} external events (CRM_BENCH_TIMELINE_EVENTS)")
    vhost_url = fresh_vhost(VHOST)
    raw = bench_events.run_raw(vhost_url, count, timeout)
    database_url = fresh_database(DATABASE)
    dsn = _dsn(database_url)
    urls = {user: _user_url(vhost_url, user) for user in ("billing", "support")}
    customers_url = _user_url(vhost_url, broker_user("customers"))
    settings = Settings(
        service="customers", database_urls={"customers": database_url}, broker_url=customers_url
    )
    migrate(settings)
    declare_broker_topology(settings)
    customers = seed_customers(database_url, CUSTOMERS)
    messages, purchases, revenue = external_events(customers, count)
    with tempfile.TemporaryDirectory(prefix="crm-bench-timeline-") as folder:
        work = Path(folder)
        worker = Worker(database_url, customers_url, work / "customers-worker.log")
        try:
            seconds, committed = run_ours(dsn, urls, messages, timeout)
        finally:
            worker.stop()
        with psycopg.connect(dsn) as connection:
            counted = _scalar(connection, "SELECT sum(purchases_count) FROM customer_summaries")
            total = _scalar(connection, "SELECT sum(amount) FROM customer_revenue")
        check = "summary checked" if (counted, total) == (purchases, revenue) else (
            f"summary MISMATCH: {counted} purchases, {total} EUR (expected {purchases}, {revenue})"
        )  # fmt: skip
        deep = customers[0]
        seed_entries(dsn, deep, entries)
        pages = run_pages(database_url, dsn, deep, entries, requests, work)
    partial = "" if committed >= count else f" (timed out: {committed:,} committed)"
    return [
        Result(
            f"{count:,} external events -> timeline + summary",
            committed / seconds if seconds > 0 else 0.0,
            "ev/s",
            raw.rate(),
            goal=f">= {THROUGHPUT_GOAL}x the raw pika round trip",
            note=f"N = {count:,}; first publish (billing, support users) to last entry committed"
            f" by `crm worker customers`{partial}; {check}; baseline: raw pika, batch confirms,"
            " quorum queue, prefetch 50, ack each",
        ),
        Result(
            f"timeline page, {entries:,} entries, p95",
            pages["api"].percentile(0.95),
            "ms",
            pages["bare"].percentile(0.95),
            False,
            goal=f"<= {PAGE_GOAL:.0f}x the raw SQL of the same page",
            note="GET /customers/{id}/timeline (gunicorn, token, schema, titles), first page and"
            f" 10/50/90/99 % deep (keyset), {requests} requests interleaved with the baseline;"
            f" p50 {pages['api'].percentile(0.5):.2f} vs {pages['bare'].percentile(0.5):.2f} ms;"
            " baseline: the page's keyset SQL served by bare Flask + psycopg (gunicorn)",
        ),
        Result(
            f"timeline page use case, {entries:,} entries, p95",
            pages["usecase"].percentile(0.95),
            "ms",
            pages["sql"].percentile(0.95),
            False,
            note="list_entries in process (statement, rows to entries, titles), no HTTP;"
            f" p50 {pages['usecase'].percentile(0.5):.2f} vs {pages['sql'].percentile(0.5):.2f} ms;"
            " baseline: the same keyset SQL with psycopg",
        ),
    ]
