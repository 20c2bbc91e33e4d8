"""CSV import (C9, issue 14): N customers with phones and tags, end to end from the
`POST /customers/imports` until the job is done, against the raw `COPY` of the same rows into the
same table (`customers`, with its indexes) in the same run. Goal: >= 0.15x.

The upload goes through the customers app (in this process, its test client streaming the file);
the job runs in a worker process of its own (the import job of the customers worker: parse,
validate every row as `POST /customers` does, COPY to staging, set-based inserts and events),
asking the real tags service (served from a thread) for the file's tags. The worker's peak RSS is
reported for N/10 rows and N rows: flat memory means about the same figure for both.

`CRM_BENCH_IMPORT_ROWS` sets N (default 100,000, a run of a few minutes; the issue's figure is
1,000,000).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from werkzeug.serving import make_server

from bench.harness import Result, env_int, fresh_database, say
from shared.auth import issue_token
from shared.settings import Settings

JWT_SECRET = "bench-imports-secret-long-enough-for-hs256-0123456789"  # noqa: S105
GOAL = 0.15
TAG_NAMES = [f"Segment {n}" for n in range(20)]
FIRST = ("Élodie", "Paul", "Chloé", "Hugo", "Léa", "Louis", "Inès", "Jules", "Manon", "Théo")
LAST = ("Dupré", "Martin", "Bernard", "Petit", "Durand", "Leroy", "Moreau", "Fournier")
CITIES = ("Lyon", "Paris", "Marseille", "Lille", "Nantes", "Bordeaux", "Rennes", "Nice")
LANGUAGES = ("fr", "en", "de", "es", "it")


def bench_imports() -> list[Result]:
    """The import of N customers against the raw COPY of the same rows."""
    count = env_int("CRM_BENCH_IMPORT_ROWS", 100_000)
    say(f"imports: N = {count:,} rows with phones and tags")
    customers_url = fresh_database("crm_bench_imports")
    tags_db_url = fresh_database("crm_bench_imports_tags")
    from services.customers.app import create_app
    from services.tags.app import create_app as create_tags_app
    from shared.migrations import migrate

    tags_settings = Settings(
        service="tags", jwt_secret=JWT_SECRET, database_urls={"tags": tags_db_url}
    )
    migrate(tags_settings)
    tags_app = create_tags_app(tags_settings)
    tags_server = make_server("127.0.0.1", 0, tags_app, threaded=True)
    threading.Thread(target=tags_server.serve_forever, daemon=True).start()
    settings = Settings(
        service="customers",
        jwt_secret=JWT_SECRET,
        database_urls={"customers": customers_url},
        service_urls={"tags": f"http://127.0.0.1:{tags_server.server_port}"},
    )
    migrate(settings)
    app = create_app(settings)
    dsn = make_url(customers_url).set(drivername="postgresql").render_as_string(False)
    try:
        with tempfile.TemporaryDirectory(prefix="crm_bench_imports_") as scratch:
            small, big = Path(scratch) / "small.csv", Path(scratch) / "big.csv"
            write_csv(small, max(count // 10, 1), "warm")
            write_csv(big, count, "user")
            raw_seconds = raw_copy_seconds(dsn, big)
            say(f"imports: raw COPY of {count:,} rows in {raw_seconds:.1f} s")
            small_run = import_run(app, settings, small)
            say(f"imports: warm-up import of {small_run['rows']:,} rows, {small_run}")
            run = import_run(app, settings, big)
            say(f"imports: import of {count:,} rows, {run}")
    finally:
        tags_server.shutdown()
        app.extensions["crm"].engine.dispose()
        tags_app.extensions["crm"].engine.dispose()
    if run["accepted"] != count:
        raise RuntimeError(f"the import accepted {run['accepted']} rows of {count}: {run}")
    return [
        Result(
            f"import of {count:,} customers (phones, tags), rows/s",
            count / run["seconds"],
            "rows/s",
            count / raw_seconds,
            goal=f">= {GOAL}x the raw COPY of the same rows into customers",
            note=f"POST to job done {run['seconds']:.1f} s (upload {run['upload']:.1f} s), raw "
            f"COPY {raw_seconds:.1f} s; {run['events']:,} events in the outbox; chunks of "
            f"{run['chunk']:,} rows, rows checked in {run['processes']} processes; CPU per row: "
            + ", ".join(
                f"{name} {run[key] / count * 1e6:.0f} us"
                for name, key in (
                    ("worker", "worker_cpu"),
                    ("checking", "checkers_cpu"),
                    ("PostgreSQL", "database_cpu"),
                )
            ),
        ),
        Result(
            "import worker peak RSS",
            run["rss_mb"],
            "MB",
            small_run["rss_mb"],
            higher_is_better=False,
            goal="flat: about the same for N rows as for N/10 (the baseline column)",
            note=f"{count:,} rows vs {small_run['rows']:,} rows, the worker process's peak (VmHWM) "
            f"(its largest checking process: {run['checkers_rss_mb']:.0f} MB vs "
            f"{small_run['checkers_rss_mb']:.0f} MB)",
        ),
    ]


def _row(n: int, prefix: str) -> dict[str, str]:
    return {
        "Prénom": FIRST[n % len(FIRST)],
        "Nom": f"{LAST[n % len(LAST)]}{n}",
        "Email": f"{prefix}{n}@example.com",
        "Téléphone": f"+33 6 {n // 1_000_000 % 100:02d} {n // 10_000 % 100:02d} "
        f"{n // 100 % 100:02d} {n % 100:02d}",
        "Ville": CITIES[n % len(CITIES)],
        "Pays": "FR",
        "Langue": LANGUAGES[n % len(LANGUAGES)],
        "Tags": f"{TAG_NAMES[n % len(TAG_NAMES)]}|{TAG_NAMES[(n * 7 + 3) % len(TAG_NAMES)]}",
    }


def write_csv(path: Path, count: int, prefix: str) -> None:
    """A French spreadsheet's export: semicolons, French headers, UTF-8 with BOM."""
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        writer = csv.DictWriter(file, list(_row(0, prefix)), delimiter=";")
        writer.writeheader()
        for n in range(count):
            writer.writerow(_row(n, prefix))


def raw_copy_seconds(dsn: str, path: Path) -> float:
    """COPY the file's rows, as the customers table holds them, into `customers`; then empty it."""
    columns = (
        "id", "kind", "first_name", "last_name", "sort_name", "email", "email_key", "language",
        "address_city", "address_country", "email_consent", "newsletter_subscribed",
        "shipping_addresses", "is_supplier", "is_conflict", "status", "login_enabled",
        "email_confirmed", "search_text", "version", "created_at", "updated_at",
    )  # fmt: skip
    now = datetime.now(UTC)
    with path.open(encoding="utf-8-sig", newline="") as file:
        rows = [
            (
                uuid.uuid4(),
                "individual",
                row["Prénom"],
                row["Nom"],
                f"{row['Nom']} {row['Prénom']}".lower(),
                row["Email"],
                row["Email"].lower(),
                row["Langue"],
                row["Ville"],
                row["Pays"],
                False,
                False,
                "[]",
                False,
                False,
                "lead",
                False,
                False,
                f"{row['Prénom']} {row['Nom']} {row['Email']}".lower(),
                1,
                now,
                now,
            )  # fmt: skip
            for row in csv.DictReader(file, delimiter=";")
        ]
    with psycopg.connect(dsn) as connection:
        started = time.perf_counter()
        statement = f"COPY customers ({', '.join(columns)}) FROM STDIN"
        with connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        connection.commit()
        seconds = time.perf_counter() - started
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("TRUNCATE customers CASCADE")
        connection.execute("VACUUM ANALYZE customers")
    return seconds


def import_run(app: Any, settings: Settings, path: Path) -> dict[str, Any]:
    """POST the file, run the worker's import job in a process of its own until done."""
    token = issue_token(
        settings, "staff:bench", ["customers:read", "customers:import"], audience=["customers"]
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    client = app.test_client()
    started = time.perf_counter()
    with path.open("rb") as file:
        answer = client.post(
            "/customers/imports",
            input_stream=file,
            headers={**headers, "Content-Length": str(path.stat().st_size)},
        )
    if answer.status_code != 202:
        raise RuntimeError(f"POST /customers/imports answered {answer.status_code}: {answer.json}")
    uploaded = time.perf_counter() - started
    worker = subprocess.run(
        [sys.executable, "-m", "bench.bench_imports", json.dumps(settings_of(settings))],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    seconds = time.perf_counter() - started
    if worker.returncode != 0:
        raise RuntimeError(f"the import worker failed:\n{worker.stderr[-4000:]}")
    figures = json.loads(worker.stdout.strip().splitlines()[-1])
    job = client.get(f"/customers/imports/{answer.json['id']}", headers=headers).json
    if job["status"] != "done":
        raise RuntimeError(f"the import did not finish: {job}")
    with psycopg.connect(
        make_url(settings.database_url).set(drivername="postgresql").render_as_string(False)
    ) as connection:
        events = connection.execute("SELECT count(*) FROM outbox").fetchone()
    return {
        "rows": job["total"],
        "accepted": job["accepted"],
        "rejected": job["rejected"],
        "seconds": seconds,
        "upload": uploaded,
        "events": int(events[0]) if events else 0,
        **figures,
    }


def settings_of(settings: Settings) -> dict[str, Any]:
    return {
        "jwt_secret": settings.jwt_secret,
        "database_urls": settings.database_urls,
        "service_urls": settings.service_urls,
    }


def _peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM): not getrusage's ru_maxrss, which Linux
    carries across execve, so a worker started by a bench process that held a million rows
    would report the bench's peak as its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker(arguments: str) -> None:
    """The customers worker's import job, once, in this process; its figures as JSON."""
    import functools
    import resource

    from services.customers.imports.runner import run_queued_imports
    from services.customers.tagging.tags_client import RemoteTagsCatalogue
    from services.customers.worker import IMPORT_CHUNK_ROWS, IMPORT_PROCESSES
    from shared.db import UnitOfWorkFactory, make_engine, make_session_factory

    settings = Settings(service="customers", **json.loads(arguments))
    engine = make_engine(settings.database_url)
    uow_factory = UnitOfWorkFactory(make_session_factory(engine), "customers")
    started = time.perf_counter()
    ran = run_queued_imports(
        uow_factory,
        IMPORT_CHUNK_ROWS,
        functools.partial(RemoteTagsCatalogue, settings),
        settings.default_phone_region,
        IMPORT_PROCESSES,
    )
    seconds = time.perf_counter() - started
    database_cpu = _backends_cpu(engine)
    engine.dispose()
    own, checkers = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    print(
        json.dumps(
            {
                "ran": ran,
                "rss_mb": _peak_rss_mb(),
                "checkers_rss_mb": checkers.ru_maxrss / 1024,
                "chunk": IMPORT_CHUNK_ROWS,
                "processes": IMPORT_PROCESSES,
                "job_seconds": seconds,
                "worker_cpu": own.ru_utime + own.ru_stime,
                "checkers_cpu": checkers.ru_utime + checkers.ru_stime,
                "database_cpu": database_cpu,
            }
        )
    )


def _backends_cpu(engine: Any) -> float:
    """CPU seconds of the PostgreSQL backends serving this database now (the worker's pooled
    sessions; the database runs on this machine); 0 when /proc cannot tell."""
    from sqlalchemy import text

    with engine.connect() as connection:
        pids = connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return 0.0
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


if __name__ == "__main__":
    _worker(sys.argv[1])
