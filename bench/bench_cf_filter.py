"""The `cf.<key>=<value>` list filter alone at N customers (issue 14's figure is N = 1,000,000),
without the whole export that `bench_export` runs beside it (minutes at a million rows).

`GET /customers?cf.loyalty=<value>` (first page, through gunicorn) against the raw SQL of the
same query (the very SELECT the list runs, sent by psycopg), interleaved one by one: p95, goal
<= 3x. The customers are `bench_export`'s seeded ones (`CRM_BENCH_CF_CUSTOMERS`, default
1,000,000; seeded once and kept), with its `loyalty` choice (0.1 % diamond, 1 % platinum, 29 %
gold) and `visits` number. The note gives each value's p50 both ways and the query's plan.

Run it with `python -m bench.bench_cf_filter` (it prints the table as `python -m bench` does).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

import psycopg

from bench.bench_customers import JWT_SECRET, libpq_url, paired_latencies
from bench.bench_export import cf_page_queries, ensure_seeded
from bench.harness import Result, env_int, format_table, say
from bench.servers import Gunicorn
from shared.auth import issue_token
from shared.settings import Settings

VALUES = ("diamond", "platinum", "gold")


def bench_cf_filter() -> list[Result]:
    """`cf.loyalty=<value>` through the API against the same SELECT in raw SQL, at N."""
    count = env_int("CRM_BENCH_CF_CUSTOMERS", 1_000_000)
    requests = env_int("CRM_BENCH_CF_REQUESTS", 300)
    say(f"cf filter: N = {count:,} customers (CRM_BENCH_CF_CUSTOMERS)")
    url = ensure_seeded(count)
    dsn = libpq_url(url)
    settings = Settings(service="customers", jwt_secret=JWT_SECRET)
    token = issue_token(settings, "staff:bench", ["customers:read"], audience=["customers"])
    headers = {"Authorization": f"Bearer {token}"}
    paths = ["/customers?" + urlencode({"cf.loyalty": value}) for value in VALUES]
    queries = cf_page_queries(url, list(VALUES))
    with tempfile.TemporaryDirectory(prefix="crm_bench_cf_") as scratch:
        ours = Gunicorn(
            "services.customers.app:create_app()",
            {"CRM_CUSTOMERS_DATABASE_URL": url, "CRM_JWT_SECRET": JWT_SECRET},
            Path(scratch) / "customers.log",
        )
        try:
            ours.start("/customers?limit=1", headers)
            say(f"cf filter: {requests} requests, each followed by its raw SQL")
            api, raw = paired_latencies(ours.port, paths, headers, dsn, queries, requests)
            per_value = [
                paired_latencies(ours.port, [path], headers, dsn, [query], 30)
                for path, query in zip(paths, queries, strict=True)
            ]
        finally:
            ours.stop()
    plans = [_plan(dsn, sql, params) for sql, params in queries]
    return [
        Result(
            f"list cf.loyalty=<value> at N={count:,}, p95",
            api.percentile(0.95),
            "ms",
            raw.percentile(0.95),
            higher_is_better=False,
            goal="<= 3x the raw SQL of the same query",
            note=f"values {', '.join(VALUES)} (0.1 %, 1 %, 29 %), {requests} requests interleaved; "
            f"p50 {api.percentile(0.5):.1f} ms vs {raw.percentile(0.5):.1f} ms raw; p50 by value "
            + ", ".join(
                f"{value} {ours_.percentile(0.5):.1f} vs {raw_.percentile(0.5):.1f} ms ({plan})"
                for value, (ours_, raw_), plan in zip(VALUES, per_value, plans, strict=True)
            ),
        )
    ]


def _plan(dsn: str, sql: str, params: dict[str, object]) -> str:
    """The scans of the query's plan (its index, or not), in one line."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    scans: list[str] = []

    def walk(node: dict[str, object]) -> None:
        if "Relation Name" in node and node.get("Relation Name") == "customers":
            scans.append(f"{node['Node Type']} {node.get('Index Name', '')}".strip())
        for child in node.get("Plans", []) or []:  # type: ignore[attr-defined]
            walk(child)

    plan = rows[0] if rows else []
    walk((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    return "; ".join(scans) or "no scan of customers"


if __name__ == "__main__":
    results = bench_cf_filter()
    print(format_table([("cf_filter", result) for result in results]))
    sys.exit(0)
