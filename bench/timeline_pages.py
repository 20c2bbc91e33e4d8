"""The timeline benchmark's second part: pages of a long timeline beside their raw SQL.

A customer gets `count` entries inserted set-based; its first page and pages 10, 50, 90 and 99 %
deep (keyset cursors) are read through gunicorn, each request followed by the same page from a
bare Flask app running the page's SQL with psycopg; then the use case (`list_entries`) in this
process, each call followed by the raw SQL.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
from flask import Flask, jsonify, request
from psycopg.rows import dict_row

from bench.bench_customers import Stats
from bench.harness import say
from bench.servers import Gunicorn, get
from services.customers.timeline.usecases import list_entries
from shared.api import encode_cursor
from shared.auth.issuing import issue_token
from shared.db import make_engine, make_read_session_factory
from shared.settings import Settings

PAGE = 50  # the timeline's default page
# Above every entry: where the first page starts.
FAR = (datetime(9999, 1, 1, tzinfo=UTC), uuid.UUID(int=2**128 - 1))
PAGE_SQL = (
    "SELECT * FROM timeline_entries WHERE customer_id = %s AND (occurred_at, id) < (%s, %s)"
    " ORDER BY occurred_at DESC, id DESC LIMIT %s"
)


def seed_entries(dsn: str, customer: uuid.UUID, count: int) -> None:
    """`count` entries on one customer's timeline, set-based (purchases, minutes apart)."""
    with psycopg.connect(dsn) as connection:
        connection.execute(
            "INSERT INTO timeline_entries (id, customer_id, type, occurred_at, event_source,"
            " event_id, actor, details, amount, currency, version, created_at, updated_at)"
            " SELECT gen_random_uuid(), %s, 'billing.purchase.completed',"
            " now() - make_interval(mins => n), 'billing', 'bench-deep-' || n, 'billing',"
            " json_build_object('amount', '12.50', 'currency', 'EUR', 'order_reference',"
            " 'O-' || n), 12.50, 'EUR', 1, now(), now()"
            " FROM generate_series(1, %s) AS n",
            (customer, count),
        )
        connection.execute("ANALYZE timeline_entries")


def page_positions(dsn: str, customer: uuid.UUID, count: int) -> list[tuple[datetime, uuid.UUID]]:
    """Sort keys at 10 %, 50 %, 90 % and 99 % down the customer's timeline."""
    positions = []
    with psycopg.connect(dsn) as connection:
        for fraction in (0.1, 0.5, 0.9, 0.99):
            row = connection.execute(
                "SELECT occurred_at, id FROM timeline_entries WHERE customer_id = %s"
                " ORDER BY occurred_at DESC, id DESC OFFSET %s LIMIT 1",
                (customer, int(count * fraction)),
            ).fetchone()
            assert row is not None
            positions.append((row[0], row[1]))
    return positions


def create_raw_app() -> Flask:
    """The page's baseline over HTTP: bare Flask running the page's keyset SQL with psycopg
    and answering the rows with jsonify (no auth, no schema, no titles)."""
    app = Flask("bench_raw_timeline")
    dsn = os.environ["CRM_BENCH_RAW_DSN"]
    connections: dict[str, psycopg.Connection[Any]] = {}

    @app.get("/customers/<uuid:customer_id>/timeline")
    def page(customer_id: uuid.UUID) -> Any:
        connection = connections.get("main")
        if connection is None or connection.closed:  # one per worker process, after the fork
            connection = connections["main"] = psycopg.connect(dsn, autocommit=True)
        at, id_ = request.args.get("at"), request.args.get("id")
        key = (datetime.fromisoformat(at), uuid.UUID(id_)) if at and id_ else FAR
        with connection.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(PAGE_SQL, (customer_id, *key, PAGE + 1)).fetchall()
        return jsonify({"items": rows[:PAGE]})

    return app


def run_pages(
    database_url: str, dsn: str, customer: uuid.UUID, entries: int, requests: int, work: Path
) -> dict[str, Stats]:
    """The timeline's pages through gunicorn, each followed by the same page from the bare
    Flask app; then the use case in this process, each call followed by the raw SQL."""
    positions = page_positions(dsn, customer, entries)
    base = f"/customers/{customer}/timeline"
    paths = [base] + [
        f"{base}?cursor={encode_cursor([at.isoformat(), str(id_)])}" for at, id_ in positions
    ]
    raw_paths = [base] + [
        f"{base}?{urlencode({'at': at.isoformat(), 'id': id_})}" for at, id_ in positions
    ]
    token = issue_token(
        Settings(service="customers"), "staff:bench", ["customers:read"], audience=["customers"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    ours = Gunicorn(
        "services.customers.app:create_app()",
        {"CRM_CUSTOMERS_DATABASE_URL": database_url},
        work / "customers-api.log",
    )
    bare = Gunicorn(
        "bench.timeline_pages:create_raw_app()", {"CRM_BENCH_RAW_DSN": dsn}, work / "raw.log"
    )
    ours.start(base, headers)
    bare.start(base, {})
    timings: dict[str, list[float]] = {"api": [], "bare": [], "usecase": [], "sql": []}
    try:
        say(f"timeline: {requests} pages of a {entries:,}-entry timeline, each beside bare Flask")
        for index in range(-len(paths), requests):  # one warm-up pass first
            for name, port, page in (
                ("api", ours.port, paths[index % len(paths)]),
                ("bare", bare.port, raw_paths[index % len(paths)]),
            ):
                started = time.perf_counter()
                status, body = get(port, page, headers)
                if status != 200:
                    raise RuntimeError(f"GET {page} answered {status}: {body[:300]!r}")
                if index >= 0:
                    timings[name].append(time.perf_counter() - started)
    finally:
        ours.stop()
        bare.stop()
    _in_process(database_url, dsn, customer, positions, requests, timings)
    return {name: Stats(values) for name, values in timings.items()}


def _in_process(
    database_url: str,
    dsn: str,
    customer: uuid.UUID,
    positions: Sequence[tuple[datetime, uuid.UUID]],
    requests: int,
    timings: dict[str, list[float]],
) -> None:
    """The use case (`list_entries`: the statement, rows to entries, titles) beside the raw SQL
    of the same page, interleaved, in this process."""
    say(f"timeline: {requests} pages by the use case, each beside its raw SQL")
    engine = make_engine(database_url)
    reads = make_read_session_factory(engine)
    keys: list[tuple[datetime, uuid.UUID] | None] = [None, *positions]
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            for index in range(-len(keys), requests):
                after = keys[index % len(keys)]
                started = time.perf_counter()
                list_entries(reads, customer, PAGE, after=after)
                elapsed = time.perf_counter() - started
                key = after or FAR
                started = time.perf_counter()
                connection.execute(PAGE_SQL, (customer, *key, PAGE + 1)).fetchall()
                if index >= 0:
                    timings["usecase"].append(elapsed)
                    timings["sql"].append(time.perf_counter() - started)
    finally:
        engine.dispose()
