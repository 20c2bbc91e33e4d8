"""Customers export and custom field filters at N customers (issue 14; the issue's figure is
N = 1,000,000: `CRM_BENCH_EXPORT_CUSTOMERS=1000000`).

- `GET /customers/export.csv` of every customer, read to the end over HTTP from gunicorn,
  against PostgreSQL's own `COPY (<the export's SELECT>) TO STDOUT (FORMAT csv)` of the same rows
  (the same columns, phones, lists and tags) in the same run: rows/s (goal >= 0.2x).
- `GET /customers?cf.loyalty=<value>` (first page) against the raw SQL of the same query (the
  very SELECT the list runs, `custom_fields @> '{"loyalty": …}'` with the page's phones, lists
  and tags, sent by psycopg), interleaved one by one: p95 (goal <= 3x). The note gives a bare
  `SELECT * … LIMIT 50` of the same filter too.

The customers are `bench_customers`' generated ones (phones, tags, lists), seeded once into a
database of this benchmark's own, with two custom fields: `loyalty` (a choice: 0.1 % diamond,
1 % platinum, 29 % gold, 30 % silver, 40 % bronze) and `visits` (a number from 0 to 49).
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from bench.bench_customers import JWT_SECRET, libpq_url, paired_latencies, seed
from bench.harness import PG_ADMIN_URL, Result, env_int, fresh_database, say
from bench.servers import Gunicorn
from services.customers.listing.queries import DEFAULT_SORT, customers_query, page_query
from shared.auth.issuing import issue_token
from shared.db import make_engine, make_session_factory
from shared.migrations import migrate
from shared.settings import Settings

SEED_VERSION = 1
LOYALTY = ("diamond", "platinum", "gold", "silver", "bronze")
# The custom fields' values, by a hash of the id (the same in every run).
CUSTOM_FIELDS_SQL = """
UPDATE customers SET custom_fields = jsonb_build_object(
    'loyalty', CASE WHEN h < 1 THEN 'diamond' WHEN h < 11 THEN 'platinum' WHEN h < 300 THEN 'gold'
                    WHEN h < 600 THEN 'silver' ELSE 'bronze' END,
    'visits', h % 50)
FROM (SELECT id, abs(hashtext(id::text)) % 1000 AS h FROM customers) AS drawn
WHERE customers.id = drawn.id
"""
DEFINITIONS_SQL = """
INSERT INTO custom_field_definitions
    (key, label, kinds, type, options, required, version, created_at, updated_at)
VALUES ('loyalty', 'Loyalty', '["individual", "company"]', 'choice', %s, false, 1, now(), now()),
       ('visits', 'Visits', '["individual", "company"]', 'number', '[]', false, 1, now(), now())
"""
CF_SQL = (
    "SELECT * FROM customers WHERE custom_fields @> %s::jsonb "
    "ORDER BY created_at DESC, id DESC LIMIT 50"
)


def _database_url(count: int) -> str:
    name = f"crm_bench_export_{count}"
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _mark(count: int) -> str:
    return f"crm bench export seed v{SEED_VERSION}: {count} customers"


def ensure_seeded(count: int) -> str:
    """This benchmark's database with `count` customers and their custom fields; its URL."""
    url = _database_url(count)
    settings = Settings(service="customers", database_urls={"customers": url})
    try:
        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            row = connection.execute(
                "SELECT obj_description('customers'::regclass, 'pg_class')"
            ).fetchone()
        if row and row[0] == _mark(count):
            say(f"export: {count:,} customers already seeded; kept")
            migrate(settings)
            return url
    except psycopg.Error:
        pass
    started = time.perf_counter()
    url = fresh_database(make_url(url).database or "")
    migrate(settings)
    dsn = libpq_url(url)
    seed(dsn, count)
    with psycopg.connect(dsn, autocommit=True) as connection:
        # Faster without the GIN index, rebuilt once after (as the seed does for the others).
        connection.execute("DROP INDEX ix_customers_custom_fields")
        connection.execute(CUSTOM_FIELDS_SQL)
        connection.execute("SET maintenance_work_mem = '1GB'")
        connection.execute(
            "CREATE INDEX ix_customers_custom_fields ON customers "
            "USING gin (custom_fields jsonb_path_ops)"
        )
        connection.execute(DEFINITIONS_SQL, (json.dumps(list(LOYALTY)),))
        connection.execute("VACUUM (ANALYZE) customers")
        connection.execute(f"COMMENT ON TABLE customers IS '{_mark(count)}'")
    say(f"export: seeded {count:,} customers in {time.perf_counter() - started:.0f} s")
    return url


def export_sql(url: str) -> str:
    """The SELECT the export runs for no filter, as PostgreSQL text."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            statement = customers_query(session, {}, DEFAULT_SORT)
    finally:
        engine.dispose()
    compiled = statement.compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )
    return str(compiled)


def cf_page_queries(url: str, values: list[str]) -> list[tuple[str, dict[str, object]]]:
    """The SELECT the list runs for `cf.loyalty=<value>` (first page), with its parameters."""
    engine = make_engine(url)
    queries = []
    try:
        with make_session_factory(engine)() as session:
            for value in values:
                statement = page_query(session, {"cf": {"loyalty": value}}, DEFAULT_SORT, 50, None)
                compiled = statement.compile(dialect=engine.dialect)
                params = {
                    name: Jsonb(param) if isinstance(param, dict) else param
                    for name, param in compiled.params.items()
                }
                queries.append((str(compiled), params))
    finally:
        engine.dispose()
    return queries


def raw_copy(dsn: str, sql: str) -> tuple[float, int, int]:
    """COPY (sql) TO STDOUT as CSV, read to the end: seconds, bytes, rows."""
    started = time.perf_counter()
    size = rows = 0
    with (
        psycopg.connect(dsn) as connection,
        connection.cursor() as cursor,
        cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy,
    ):
        for data in copy:
            size += len(data)
            rows += bytes(data).count(b"\n")
    return time.perf_counter() - started, size, rows


def http_export(port: int, headers: dict[str, str]) -> tuple[float, int, int]:
    """GET /customers/export.csv read to the end: seconds, bytes, lines (header included)."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    size = lines = 0
    try:
        connection.request("GET", "/customers/export.csv", headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"export answered {response.status}: {response.read()[:300]!r}")
        while data := response.read(1 << 16):
            size += len(data)
            lines += data.count(b"\r\n")
    finally:
        connection.close()
    return time.perf_counter() - started, size, lines


def bench_export() -> list[Result]:
    """Export rows/s against raw COPY, and a `cf.<key>` filter against raw SQL, at N customers."""
    count = env_int("CRM_BENCH_EXPORT_CUSTOMERS", 100_000)
    requests = env_int("CRM_BENCH_EXPORT_REQUESTS", 200)
    say(f"export: N = {count:,} customers (CRM_BENCH_EXPORT_CUSTOMERS)")
    url = ensure_seeded(count)
    dsn = libpq_url(url)
    sql = export_sql(url)
    settings = Settings(service="customers", jwt_secret=JWT_SECRET)
    token = issue_token(
        settings, "staff:bench", ["customers:read", "customers:export"], audience=["customers"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    with tempfile.TemporaryDirectory(prefix="crm_bench_export_") as scratch:
        ours = Gunicorn(
            "services.customers.app:create_app()",
            {"CRM_CUSTOMERS_DATABASE_URL": url, "CRM_JWT_SECRET": JWT_SECRET},
            Path(scratch) / "customers.log",
            worker_timeout=900,
        )
        try:
            ours.start("/customers?limit=1", headers)
            say("export: raw COPY of the export's SELECT, then GET /customers/export.csv")
            raw_copy(dsn, f"{sql} LIMIT 1000")  # warm both paths up
            raw_seconds, raw_bytes, raw_rows = raw_copy(dsn, sql)
            table_seconds, _, _ = raw_copy(dsn, "SELECT * FROM customers")
            seconds, size, lines = http_export(ours.port, headers)
            if lines - 1 < count:
                raise RuntimeError(f"the export gave {lines - 1} rows for {count} customers")
            say(f"export: cf.loyalty filters, {requests} requests, each followed by its raw SQL")
            values = ["diamond", "platinum", "gold"]
            paths = ["/customers?" + urlencode({"cf.loyalty": value}) for value in values]
            queries = cf_page_queries(url, values)
            api, raw = paired_latencies(ours.port, paths, headers, dsn, queries, requests)
            bare = [(CF_SQL, (json.dumps({"loyalty": value}),)) for value in values]
            _, bare_sql = paired_latencies(
                ours.port, paths[:1], headers, dsn, bare, len(values) * 20
            )
        finally:
            ours.stop()
    return [
        Result(
            f"export.csv at N={count:,}, rows/s",
            count / seconds,
            "rows/s",
            raw_rows / raw_seconds,
            goal=">= 0.2x the raw COPY (<the export's SELECT>) TO STDOUT (FORMAT csv)",
            note=f"ours {seconds:.1f} s, {size / 1e6:.0f} MB over HTTP (gunicorn); COPY "
            f"{raw_seconds:.1f} s, {raw_bytes / 1e6:.0f} MB; a bare COPY customers TO STDOUT "
            f"takes {table_seconds:.1f} s",
        ),
        Result(
            f"list cf.loyalty=<value> at N={count:,}, p95",
            api.percentile(0.95),
            "ms",
            raw.percentile(0.95),
            higher_is_better=False,
            goal="<= 3x the raw SQL of the same query",
            note=f"values {', '.join(values)} (0.1 %, 1 %, 29 %), {requests} requests "
            f"interleaved; p50 {api.percentile(0.5):.1f} ms vs {raw.percentile(0.5):.1f} ms raw; "
            f"a bare SELECT * of the same filter and page: p95 {bare_sql.percentile(0.95):.1f} ms",
        ),
    ]
