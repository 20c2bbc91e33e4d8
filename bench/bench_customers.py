"""Customers at a million rows, under gunicorn (2 workers), each figure beside its raw baseline.

The database `crm_bench_customers` is seeded once with COPY (1,000,000 customers, 20 tags with a
skewed spread, skewed cities and statuses, phones, newsletter lists) and kept between runs: it is
reseeded only when its row count or this generator's version differs. Then, in the same run:
- `GET /customers/{id}` requests/s, beside a bare Flask app fetching the row with psycopg, in
  interleaved rounds (the median of each is reported);
- `GET /customers?tag=…&city=…&status=…` p50/p95, beside the same query in raw SQL;
- a deep page of the unfiltered list (keyset) beside the first one;
- `GET /customers?q=…` p95 (names, email parts, phones in several writings), beside raw SQL;
- `POST /customers/bulk` adding one tag to every customer of a city (~100,000) until its job is
  done, beside the set-based SQL `INSERT … SELECT … ON CONFLICT DO NOTHING`.
Scale with CRM_BENCH_CUSTOMERS, CRM_BENCH_CUSTOMERS_SECONDS, CRM_BENCH_CUSTOMERS_REQUESTS and
CRM_BENCH_CUSTOMERS_ROUNDS (interleaved rounds of the read measurement, median reported).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any
from urllib.parse import urlencode

import psycopg
from flask import Flask, abort, jsonify
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from bench.bench_http import find_wrk, parse_wrk
from bench.harness import PG_ADMIN_URL, Result, env_float, env_int, fresh_database, say
from bench.load import Load
from bench.servers import WORKERS, Gunicorn, get
from services.customers.listing.filters import like_pattern, search_terms
from services.customers.listing.queries import encode_position
from shared.api import encode_cursor
from shared.auth.issuing import issue_token
from shared.db import UnitOfWorkFactory, make_engine, make_session_factory
from shared.migrations import migrate
from shared.settings import Settings

DATABASE = "crm_bench_customers"
SEED_VERSION = 3  # bump when the generator changes: the next run reseeds
JWT_SECRET = "bench-customers-secret-long-enough-for-hs256-0123456789"  # noqa: S105
LOAD_THREADS = 2
LOAD_CONNECTIONS = 16
BULK_TAG_ID = uuid.UUID("0b0b0b0b-0000-4000-8000-00000000b0b0")


def _words(text: str, separator: str = " ") -> tuple[str, ...]:
    return tuple(text.split(separator))


# --- the generated population -------------------------------------------------------------------
# (city, region, postal code, country, phone prefix); weights follow Zipf's law by rank.
CITIES = [
    ("Paris", "Île-de-France", "75011", "FR", "+336"),
    ("Lyon", "Auvergne-Rhône-Alpes", "69003", "FR", "+336"),
    ("Marseille", "Provence-Alpes-Côte d'Azur", "13008", "FR", "+336"),
    ("Toulouse", "Occitanie", "31000", "FR", "+337"),
    ("Bruxelles", "Bruxelles-Capitale", "1000", "BE", "+324"),
    ("Nice", "Provence-Alpes-Côte d'Azur", "06000", "FR", "+336"),
    ("Nantes", "Pays de la Loire", "44000", "FR", "+336"),
    ("Strasbourg", "Grand Est", "67000", "FR", "+337"),
    ("Genève", "Genève", "1201", "CH", "+417"),
    ("Montpellier", "Occitanie", "34000", "FR", "+336"),
    ("Bordeaux", "Nouvelle-Aquitaine", "33000", "FR", "+336"),
    ("Lille", "Hauts-de-France", "59000", "FR", "+336"),
    ("Liège", "Wallonie", "4000", "BE", "+324"),
    ("Rennes", "Bretagne", "35000", "FR", "+336"),
    ("Reims", "Grand Est", "51100", "FR", "+336"),
    ("Lausanne", "Vaud", "1003", "CH", "+417"),
    ("Le Havre", "Normandie", "76600", "FR", "+336"),
    ("Saint-Étienne", "Auvergne-Rhône-Alpes", "42000", "FR", "+337"),
    ("Toulon", "Provence-Alpes-Côte d'Azur", "83000", "FR", "+336"),
    ("Luxembourg", "Luxembourg", "1009", "LU", "+336"),
    ("Grenoble", "Auvergne-Rhône-Alpes", "38000", "FR", "+336"),
    ("Dijon", "Bourgogne-Franche-Comté", "21000", "FR", "+336"),
    ("Angers", "Pays de la Loire", "49000", "FR", "+336"),
    ("Namur", "Wallonie", "5000", "BE", "+324"),
    ("Nîmes", "Occitanie", "30000", "FR", "+336"),
    ("Clermont-Ferrand", "Auvergne-Rhône-Alpes", "63000", "FR", "+336"),
    ("Le Mans", "Pays de la Loire", "72000", "FR", "+336"),
    ("Aix-en-Provence", "Provence-Alpes-Côte d'Azur", "13100", "FR", "+336"),
    ("Brest", "Bretagne", "29200", "FR", "+336"),
    ("Tours", "Centre-Val de Loire", "37000", "FR", "+336"),
    ("Amiens", "Hauts-de-France", "80000", "FR", "+336"),
    ("Limoges", "Nouvelle-Aquitaine", "87000", "FR", "+336"),
    ("Annecy", "Auvergne-Rhône-Alpes", "74000", "FR", "+336"),
    ("Perpignan", "Occitanie", "66000", "FR", "+336"),
    ("Metz", "Grand Est", "57000", "FR", "+336"),
    ("Besançon", "Bourgogne-Franche-Comté", "25000", "FR", "+336"),
    ("Orléans", "Centre-Val de Loire", "45000", "FR", "+336"),
    ("Rouen", "Normandie", "76000", "FR", "+336"),
    ("Mulhouse", "Grand Est", "68100", "FR", "+336"),
    ("Caen", "Normandie", "14000", "FR", "+336"),
]
FIRST_NAMES = _words(
    "Jean Marie Pierre Michel Nathalie Isabelle Philippe Sylvie Catherine Nicolas Christophe "
    "Sophie Stéphane Sandrine Frédéric Valérie Laurent Céline Julien Aurélie Thomas Camille "
    "Léa Hugo Chloé Lucas Manon Emma Louis Inès Gabriel Jade Arthur Louise Raphaël Alice "
    "Jules Lina Adam Rose Paul Anna Victor Zoé Noah Mila Théo Eva Nathan Clara Maxime Sarah "
    "Antoine Julie Alexandre Pauline Romain Marine Kevin Laura Mathieu Elodie Guillaume "
    "Emilie Vincent Lucie"
)
LAST_NAMES = _words(
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel "
    "Lefebvre Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine "
    "Rousseau Vincent Muller Lefèvre Faure André Mercier Blanc Guérin Boyer Garnier Chevalier "
    "François Legrand Gauthier Garcia Perrin Robin Clément Morin Nicolas Henry Roussel "
    "Mathieu Gautier Masson Marchand Duval Denis Dumont Marie Lemaire Noël Meyer Dufour "
    "Meunier Brun Blanchard Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez "
    "Gérard Roche Renard Schmitt Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert "
    "Lemoine Renaud Dumas Lacroix Olivier Philippe Bourgeois Pierre Benoit Rey Leclerc Payet "
    "Rolland Leclercq Guillaume Lecomte Lopez"
)
COMPANY_SUFFIXES = ("SARL", "SAS", "SA", "& Fils", "Conseil", "Industries", "Services", "Bio")
DOMAINS = ("gmail.com", "orange.fr", "free.fr", "yahoo.fr", "hotmail.com", "laposte.net")
STATUSES = (("lead", 40), ("prospect", 22), ("active", 25), ("vip", 3), ("inactive", 10))
LANGUAGES = (("fr", 78), ("fr_BE", 6), ("en", 6), ("de", 3), ("nl", 3), ("it", 2), ("fr_CH", 2))
CHANNELS = (("web", 45), ("shop", 20), ("referral", 10), ("instagram", 8), ("fair", 5), (None, 12))
TAG_NAMES = _words(
    "Newsletter VIP, Fidèle, Nouveau, Prospect chaud, B2B, Salon 2024, Parrain, Intéressé, "
    "Promo été, Black Friday, Abonné box, Ancien client, Grand compte, Revendeur, Partenaire, "
    "Presse, Influenceur, Bêta-testeur, Ambassadeur, À relancer",
    ", ",
)
TAGS_PER_CUSTOMER = ((0, 35), (1, 35), (2, 20), (3, 10))
CUSTOMER_COLUMNS = (
    "id, kind, first_name, last_name, company_name, sort_name, email, email_key, language, "
    "address_street, address_postal_code, address_city, address_region, address_country, "
    "email_consent, newsletter_subscribed, shipping_addresses, is_supplier, is_conflict, status, "
    "status_changed_at, source_channel, login_enabled, email_confirmed, search_text, version, "
    "created_at, updated_at"
)
SEEDED_TABLES = (
    "customers",
    "customer_phones",
    "customer_tags",
    "customer_newsletter_lists",
    "tag_projection",
)


def _zipf(count: int) -> list[float]:
    return [1 / rank for rank in range(1, count + 1)]


def tag_ids() -> list[uuid.UUID]:
    """The 20 tags' ids, the same in every run."""
    return [uuid.uuid5(uuid.NAMESPACE_URL, f"crm-bench-tag-{index}") for index in range(20)]


def _ascii(text: str) -> str:
    return (
        text.lower()
        .translate(str.maketrans("éèêëàâîïôöùûüç", "eeeeaaiioouuuc"))
        .replace(" ", "")
        .replace("&", "")
        .replace("'", "")
    )


def _flag(value: bool) -> str:
    return "t" if value else "f"


@dataclass
class Population:
    """The COPY text of the child tables, built while the customers stream out."""

    phones: list[str]
    tags: list[str]
    lists: list[str]


def _draw(rng: random.Random, weighted: Sequence[tuple[Any, int]], count: int) -> list[Any]:
    return rng.choices([value for value, _ in weighted], [w for _, w in weighted], k=count)


def customer_lines(count: int, population: Population, chunk: int = 20_000) -> Iterator[str]:
    """COPY text of `count` customers in chunks, deterministic; fills `population` as it goes."""
    rng = random.Random(20_240_601)
    statuses = _draw(rng, STATUSES, count)
    languages = _draw(rng, LANGUAGES, count)
    channels = [channel or "\\N" for channel in _draw(rng, CHANNELS, count)]
    cities = rng.choices(CITIES, _zipf(len(CITIES)), k=count)
    tag_counts = _draw(rng, TAGS_PER_CUSTOMER, count)
    firsts = rng.choices(FIRST_NAMES, k=count)
    lasts = rng.choices(LAST_NAMES, k=count)
    domains = rng.choices(DOMAINS, k=count)
    streets = rng.choices(LAST_NAMES, k=count)
    slugs = {name: _ascii(name) for name in (*FIRST_NAMES, *LAST_NAMES)}
    tags = [str(tag_id) for tag_id in tag_ids()]
    tag_weights = _zipf(len(tags))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    step = timedelta(days=5 * 365) / count
    random_float, version_4 = rng.random, (0x4000 << 64) | (0x8000 << 48)
    lines: list[str] = []
    for index in range(count):
        bits = rng.getrandbits(128) & ~((0xF000 << 64) | (0xC000 << 48)) | version_4
        customer_id = f"{bits:032x}"
        city, region, postal_code, country, prefix = cities[index]
        last = lasts[index]
        if random_float() < 0.15:
            company = f"{last} {COMPANY_SUFFIXES[index % len(COMPANY_SUFFIXES)]}"
            names = f"\\N\t\\N\t{company}\t{company.lower()}"
            words = [company, None]
            email_name = _ascii(company)
            kind = "company"
        else:
            first = firsts[index]
            names = f"{first}\t{last}\t\\N\t{last.lower()} {first.lower()}"
            words = [first, last]
            email_name = f"{slugs[first]}.{slugs[last]}"
            kind = "individual"
        if random_float() < 0.9:
            email = f"{email_name}{index}@{domains[index]}"
            words.append(email)
            emails = f"{email}\t{email}"
        else:
            emails = "\\N\t\\N"
        if random_float() < 0.85:
            phones = [f"{prefix}{rng.randrange(10**8):08d}"]
            if random_float() < 0.2:
                phones.append(f"+331{rng.randrange(10**8):08d}")
            for position, number in enumerate(phones):
                population.phones.append(
                    f"{customer_id}\t{position}\t{number}\t{'home' if position else 'mobile'}"
                    f"\t{_flag(random_float() < 0.3)}\tf\tf\n"
                )
                words += [number, number[1:], f"0{number[3:]}"]
        created = (start + step * index + timedelta(seconds=random_float())).isoformat()
        if tag_counts[index]:
            for tag_id in set(rng.choices(tags, tag_weights, k=tag_counts[index])):
                population.tags.append(f"{customer_id}\t{tag_id}\t{created}\n")
        subscribed = random_float() < 0.35
        if subscribed:
            population.lists.append(f"{customer_id}\tweekly\n")
            if random_float() < 0.3:
                population.lists.append(f"{customer_id}\toffers\n")
        search_text = " ".join(word for word in words if word).lower()
        lines.append(
            f"{customer_id}\t{kind}\t{names}\t{emails}\t{languages[index]}"
            f"\t{1 + index % 199} rue {streets[index]}\t{postal_code}\t{city}\t{region}"
            f"\t{country}\t{_flag(subscribed)}\t{_flag(subscribed)}\t[]"
            f"\t{_flag(random_float() < 0.01)}\t{_flag(random_float() < 0.005)}"
            f"\t{statuses[index]}\t{created}\t{channels[index]}\tf\tf\t{search_text}\t1"
            f"\t{created}\t{created}\n"
        )
        if len(lines) >= chunk:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


# --- seeding ------------------------------------------------------------------------------------
def database_name(count: int) -> str:
    """`crm_bench_customers`; a smaller trial run seeds a database of its own beside it."""
    return DATABASE if count == 1_000_000 else f"{DATABASE}_{count}"


def database_url(count: int) -> str:
    """The benchmark database's SQLAlchemy URL."""
    name = database_name(count)
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _seed_mark(count: int) -> str:
    return f"crm bench seed v{SEED_VERSION}: {count} customers"


def ensure_seeded(count: int) -> str:
    """The benchmark database, seeded unless it already holds this very seed; its URL."""
    url = database_url(count)
    try:
        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            mark = connection.execute(
                "SELECT obj_description('customers'::regclass, 'pg_class')"
            ).fetchone()
            rows = connection.execute("SELECT count(*) FROM customers").fetchone()
        if mark and mark[0] == _seed_mark(count) and rows and rows[0] == count:
            say(f"customers: {count:,} customers already seeded in {database_name(count)}; kept")
            migrate(Settings(service="customers", database_urls={"customers": url}))
            return url
    except psycopg.Error:
        pass  # no database yet, or not migrated: seed it
    started = time.perf_counter()
    # From a fresh database: an interrupted seed (indexes dropped) never survives to a later run.
    url = fresh_database(database_name(count))
    migrate(Settings(service="customers", database_urls={"customers": url}))
    seed(libpq_url(url), count)
    say(f"customers: seeded {count:,} customers in {time.perf_counter() - started:.0f} s")
    return url


@dataclass(frozen=True)
class Schema:
    """The indexes and constraints of the seeded tables, to drop before COPY and rebuild after."""

    indexes: list[tuple[str, str]]  # (name, CREATE INDEX …), constraint-backing ones too
    keys: list[tuple[str, str, str]]  # (table, name, PRIMARY KEY / UNIQUE)
    foreign_keys: list[tuple[str, str, str]]  # (table, name, definition)


def _schema(connection: psycopg.Connection[Any]) -> Schema:
    tables = list(SEEDED_TABLES)
    indexes = connection.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", (tables,)
    ).fetchall()
    constraints = connection.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE contype IN ('p', 'u', 'f') "
        "AND (conrelid::regclass::text = ANY(%s) OR confrelid::regclass::text = ANY(%s))",
        (tables, tables),
    ).fetchall()
    keys = [
        (table, name, "PRIMARY KEY" if kind == "p" else "UNIQUE")
        for table, name, kind, _ in constraints
        if kind != "f"
    ]
    foreign = [
        (table, name, definition) for table, name, kind, definition in constraints if kind == "f"
    ]
    # The GIN trigram index takes longest: started first, the others share the second core.
    indexes.sort(key=lambda index: "gin" not in index[1])
    return Schema(indexes, keys, foreign)


def seed(dsn: str, count: int) -> None:
    """Drop the seeded tables' indexes and keys, COPY the rows, rebuild on two cores, analyze."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        schema = _schema(connection)
        for table, name, _ in schema.foreign_keys:
            connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for table, name, _ in schema.keys:
            connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in schema.indexes:
            connection.execute(f'DROP INDEX IF EXISTS "{name}"')
        copy_rows(connection, count)
    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda index: _build(dsn, *index), schema.indexes))
    say(f"customers: built {len(schema.indexes)} indexes in {time.perf_counter() - started:.0f} s")
    with psycopg.connect(dsn, autocommit=True) as connection:
        for table, name, kind in schema.keys:
            connection.execute(
                f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {kind} USING INDEX "{name}"'
            )
        for table, name, definition in schema.foreign_keys:
            connection.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        connection.execute(f"VACUUM (ANALYZE) {', '.join(SEEDED_TABLES)}")
        connection.execute(f"COMMENT ON TABLE customers IS '{_seed_mark(count)}'")


def _build(dsn: str, name: str, definition: str) -> None:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("SET maintenance_work_mem = '1GB'")
        connection.execute(definition)
    say(f"customers: built {name} in {time.perf_counter() - started:.1f} s")


def copy_rows(connection: psycopg.Connection[Any], count: int) -> None:
    """COPY the generated rows, the tables emptied in the same transaction (COPY FREEZE)."""
    population = Population([], [], [])
    started = time.perf_counter()
    with connection.transaction():
        connection.execute(f"TRUNCATE {', '.join(SEEDED_TABLES)}")
        with connection.cursor().copy(
            f"COPY customers ({CUSTOMER_COLUMNS}) FROM STDIN WITH (FREEZE)"
        ) as copy:
            for chunk in customer_lines(count, population):
                copy.write(chunk)
        say(f"customers: copied the customers in {time.perf_counter() - started:.0f} s")
        for table, columns, lines in (
            (
                "customer_phones",
                "customer_id, position, number, type, sms, whatsapp, viber",
                population.phones,
            ),
            ("customer_tags", "customer_id, tag_id, created_at", population.tags),
            ("customer_newsletter_lists", "customer_id, list_name", population.lists),
        ):
            with connection.cursor().copy(
                f"COPY {table} ({columns}) FROM STDIN WITH (FREEZE)"
            ) as copy:
                for start in range(0, len(lines), 50_000):
                    copy.write("".join(lines[start : start + 50_000]))
        now = datetime.now(UTC)
        for order, (tag_id, name) in enumerate(zip(tag_ids(), TAG_NAMES, strict=True)):
            connection.execute(
                'INSERT INTO tag_projection (id, name, color, "order", is_fixed, updated_at) '
                "VALUES (%s, %s, %s, %s, false, %s)",
                (tag_id, name, f"#{(order * 1234567) % 0xFFFFFF:06x}", order or None, now),
            )
    say(f"customers: copied every table in {time.perf_counter() - started:.0f} s")


# --- the raw baseline app -----------------------------------------------------------------------
def create_raw_app() -> Flask:
    """The read baseline: bare Flask fetching one row with psycopg, answered with jsonify."""
    app = Flask("bench_raw_customers")
    dsn = os.environ["CRM_BENCH_RAW_DSN"]
    connections: dict[str, psycopg.Connection[Any]] = {}

    @app.get("/customers/<uuid:customer_id>")
    def customer(customer_id: uuid.UUID) -> Any:
        """One customer row as JSON."""
        connection = connections.get("main")
        if connection is None or connection.closed:  # one per worker process, after the fork
            connection = connections["main"] = psycopg.connect(dsn, autocommit=True)
        with connection.cursor(row_factory=dict_row) as cursor:
            row = cursor.execute("SELECT * FROM customers WHERE id = %s", (customer_id,)).fetchone()
        if row is None:
            abort(404)
        return jsonify(row)

    return app


# --- servers and load ---------------------------------------------------------------------------
def request_json(
    port: int, method: str, path: str, headers: dict[str, str], body: Any = None
) -> tuple[int, Any]:
    """One JSON request; status and decoded body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        payload = None if body is None else json.dumps(body)
        connection.request(
            method, path, body=payload, headers={**headers, "Content-Type": "application/json"}
        )
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def api_latencies(port: int, paths: Sequence[str], headers: dict[str, str], count: int) -> Stats:
    """`count` sequential GETs cycling over `paths` (after one warm-up pass); their latencies."""
    for path in paths:
        status, body = get(port, path, headers)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
    timings = []
    for index in range(count):
        started = time.perf_counter()
        status, _ = get(port, paths[index % len(paths)], headers)
        timings.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"GET {paths[index % len(paths)]} answered {status}")
    return Stats(timings)


def paired_latencies(
    port: int,
    paths: Sequence[str],
    headers: dict[str, str],
    dsn: str,
    queries: Sequence[tuple[str, Any]],
    count: int,
) -> tuple[Stats, Stats]:
    """`count` GETs cycling over `paths`, each followed by the same request in raw SQL.

    Interleaved one by one (after a warm-up pass of both), so that a burst of someone else's
    load on these shared machines weighs on both sides alike. The API's latencies, then SQL's.
    """
    api_latencies(port, paths, headers, 0)  # the warm-up pass
    api_timings, sql_timings = [], []
    with psycopg.connect(dsn, autocommit=True) as connection:
        for sql, params in queries:
            connection.execute(sql, params).fetchall()
        for index in range(count):
            path = paths[index % len(paths)]
            started = time.perf_counter()
            status, _ = get(port, path, headers)
            api_timings.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
            sql, params = queries[index % len(queries)]
            started = time.perf_counter()
            connection.execute(sql, params).fetchall()
            sql_timings.append(time.perf_counter() - started)
    return Stats(api_timings), Stats(sql_timings)


@dataclass(frozen=True)
class Stats:
    """Latencies in seconds; percentiles in milliseconds."""

    timings: list[float]

    def percentile(self, fraction: float) -> float:
        """The latency under which `fraction` of the requests answered, in ms."""
        ordered = sorted(self.timings)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


WRK_SCRIPT = """
local paths = {%s}
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", paths[(counter %% #paths) + 1])
end
"""


def throughput(
    wrk: str, port: int, paths: Sequence[str], headers: dict[str, str], seconds: float, work: Path
) -> Load:
    """Requests/s of wrk cycling over `paths` (1 s warm-up, then `seconds` measured)."""
    script = work / f"paths-{port}.lua"
    script.write_text(WRK_SCRIPT % ", ".join(json.dumps(path) for path in paths))
    command = [wrk, f"-t{LOAD_THREADS}", f"-c{LOAD_CONNECTIONS}", "--timeout", "10s", "--latency"]
    command += [item for name, value in headers.items() for item in ("-H", f"{name}: {value}")]
    command += ["-s", str(script), f"http://127.0.0.1:{port}/"]
    subprocess.run([*command[:1], "-d1s", *command[1:]], capture_output=True, timeout=60)
    completed = subprocess.run(
        [*command[:1], f"-d{max(1, round(seconds))}s", *command[1:]],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse_wrk(completed.stdout)


# --- the workload -------------------------------------------------------------------------------
LIST_SQL = (
    "SELECT * FROM customers c WHERE c.status = %s AND lower(c.address_city) = lower(%s) "
    "AND EXISTS (SELECT 1 FROM customer_tags t WHERE t.customer_id = c.id AND t.tag_id = %s) "
    "ORDER BY c.created_at DESC, c.id DESC LIMIT 50"
)
DEEP_SQL = (
    "SELECT * FROM customers c WHERE (c.created_at, c.id) < (%s, %s) "
    "ORDER BY c.created_at DESC, c.id DESC LIMIT 50"
)


@dataclass(frozen=True)
class Workload:
    """What the requests ask, drawn from the seeded rows (the same in every run)."""

    ids: list[uuid.UUID]
    filters: list[tuple[str, str, uuid.UUID]]  # (status, city, tag)
    searches: list[str]
    deep: list[tuple[datetime, uuid.UUID]]  # positions 99 % of the way down the list
    bulk_city: str
    bulk_matched: int


def workload(dsn: str) -> Workload:
    """Ids, filter combinations, searches and the bulk action's city, read from the database."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        ids = [row[0] for row in connection.execute(
            "SELECT id FROM customers TABLESAMPLE BERNOULLI (0.1) REPEATABLE (7) LIMIT 1000"
        )]  # fmt: skip
        people = connection.execute(
            "SELECT first_name, last_name, company_name, email, "
            "(SELECT number FROM customer_phones p WHERE p.customer_id = c.id LIMIT 1) "
            "FROM customers c TABLESAMPLE BERNOULLI (0.01) REPEATABLE (11) LIMIT 40"
        ).fetchall()
        total = connection.execute("SELECT count(*) FROM customers").fetchone()
        assert total is not None
        deep = connection.execute(
            "SELECT created_at, id FROM customers ORDER BY created_at DESC, id DESC "
            "OFFSET %s LIMIT 5",
            (int(total[0] * 0.99),),
        ).fetchall()
        cities = connection.execute(
            "SELECT address_city, count(*) FROM customers GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    bulk_city, bulk_matched = min(cities, key=lambda row: abs(row[1] - 100_000))
    searches: list[str] = []
    for first, last, company, email, phone in people:
        if company:
            searches.append(company.split()[0][:5])
        else:
            searches.append(f"{first} {last}")
        if email:
            searches.append(email.split("@")[0])
        if phone:
            national = f"0{phone[3:]}"
            searches.append(" ".join(national[i : i + 2] for i in range(0, len(national), 2)))
            searches.append(phone)
    searches += ["dupont", "martin", "garcia sarl", "@free.fr"]
    tags = tag_ids()
    filters = [
        (status, city, tag)
        for status in ("active", "lead")
        for city, *_ in CITIES[1:4]
        for tag in (tags[2], tags[4], tags[9])
    ]
    return Workload(ids, filters, searches, deep, bulk_city, bulk_matched)


def _query(params: dict[str, Any]) -> str:
    return "/customers?" + urlencode(params)


def search_sql(q: str) -> tuple[str, list[str]]:
    """The raw SQL of a `q` search: the same normalised terms, one LIKE each."""
    terms = search_terms(q)
    where = " AND ".join("search_text LIKE %s ESCAPE '/'" for _ in terms)
    sql = f"SELECT * FROM customers WHERE {where} ORDER BY created_at DESC, id DESC LIMIT 50"
    return sql, [like_pattern(term) for term in terms]


# --- bulk tagging -------------------------------------------------------------------------------
def bulk_sql_seconds(dsn: str, city: str) -> tuple[float, int]:
    """The set-based SQL adding the bulk tag to a city's customers, committed; seconds, rows."""
    with psycopg.connect(dsn) as connection:
        started = time.perf_counter()
        cursor = connection.execute(
            "INSERT INTO customer_tags (customer_id, tag_id, created_at) "
            "SELECT id, %s, now() FROM customers WHERE lower(address_city) = lower(%s) "
            "ON CONFLICT DO NOTHING",
            (BULK_TAG_ID, city),
        )
        connection.commit()
        return time.perf_counter() - started, cursor.rowcount


def bulk_api_seconds(url: str, port: int, headers: dict[str, str], city: str) -> tuple[float, int]:
    """`POST /customers/bulk` until done (a job above the sync limit, run as the worker does)."""
    body = {"action": "add_tags", "filter": {"city": city}, "tag_ids": [str(BULK_TAG_ID)]}
    started = time.perf_counter()
    status, answer = request_json(port, "POST", "/customers/bulk", headers, body)
    if status == 200:
        return time.perf_counter() - started, int(answer["changed"])
    if status != 202:
        raise RuntimeError(f"POST /customers/bulk answered {status}: {answer}")
    from services.customers.tagging.bulk_jobs import run_queued_jobs

    settings = Settings(service="customers", database_urls={"customers": url})
    engine = make_engine(url)
    try:
        run_queued_jobs(
            UnitOfWorkFactory(make_session_factory(engine), "customers"),
            settings.bulk_sync_limit,
        )
    finally:
        engine.dispose()
    elapsed = time.perf_counter() - started
    status, job = request_json(port, "GET", f"/customers/bulk/{answer['id']}", headers)
    if status != 200 or job["status"] != "done":
        raise RuntimeError(f"the bulk job did not finish: {status} {job}")
    return elapsed, int(job["changed"])


def undo_bulk(dsn: str, keep_tag: bool) -> None:
    """Remove what a bulk measurement added, so that the seeded database stays as seeded."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute("DELETE FROM customer_tags WHERE tag_id = %s", (BULK_TAG_ID,))
        connection.execute("TRUNCATE outbox, bulk_jobs, bulk_job_targets")
        if not keep_tag:
            connection.execute("DELETE FROM tag_projection WHERE id = %s", (BULK_TAG_ID,))
        connection.execute("VACUUM (ANALYZE) customers, customer_tags")


# --- the benchmark ------------------------------------------------------------------------------
def bench_customers() -> list[Result]:
    """Reads, filtered list, deep page, `q` and bulk tagging at a million customers."""
    count = env_int("CRM_BENCH_CUSTOMERS", 1_000_000)
    seconds = env_float("CRM_BENCH_CUSTOMERS_SECONDS", 10.0)
    requests = env_int("CRM_BENCH_CUSTOMERS_REQUESTS", 300)
    rounds = env_int("CRM_BENCH_CUSTOMERS_ROUNDS", 3)
    wrk = find_wrk()
    if wrk is None:
        raise RuntimeError("the customers benchmark needs wrk (apt-get install wrk)")
    url = ensure_seeded(count)
    dsn = libpq_url(url)
    load = workload(dsn)
    settings = Settings(service="customers", jwt_secret=JWT_SECRET)
    token = issue_token(
        settings, "staff:bench", ["customers:read", "customers:write"], audience=["customers"]
    )
    headers = {"Authorization": f"Bearer {token}"}
    id_paths = [f"/customers/{customer_id}" for customer_id in load.ids]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="crm_bench_customers_") as scratch:
        work = Path(scratch)
        raw = Gunicorn(
            "bench.bench_customers:create_raw_app()",
            {"CRM_BENCH_RAW_DSN": dsn},
            work / "raw.log",
            worker_timeout=120,
        )
        ours = Gunicorn(
            "services.customers.app:create_app()",
            {"CRM_CUSTOMERS_DATABASE_URL": url, "CRM_JWT_SECRET": JWT_SECRET},
            work / "customers.log",
            worker_timeout=120,
        )
        try:
            try:
                raw.start(id_paths[0], {})
                ours.start(id_paths[0], headers)
                raw_reads, reads = read_rounds(
                    wrk, raw, ours, id_paths, headers, rounds, seconds, work
                )
            finally:
                raw.stop()
            results.append(
                Result(
                    "GET /customers/{id}, req/s",
                    median(load.requests_per_second for load in reads),
                    "req/s",
                    median(load.requests_per_second for load in raw_reads),
                    goal=">= 0.5x the bare Flask + psycopg one-row fetch",
                    note=f"median of {rounds} interleaved rounds (ours "
                    f"{_figures(reads)}; raw {_figures(raw_reads)}); wrk {LOAD_THREADS} threads, "
                    f"{LOAD_CONNECTIONS} conns, {seconds:.0f} s each, {WORKERS} sync workers, "
                    f"1,000 ids; errors {sum(load.errors for load in reads)}/"
                    f"{sum(load.errors for load in raw_reads)}",
                )
            )
            results += list_results(ours.port, headers, dsn, load, requests)
            results += search_results(ours.port, headers, dsn, load, requests)
            results.append(bulk_result(url, dsn, ours.port, headers, load))
        finally:
            ours.stop()
    return results


def read_rounds(
    wrk: str,
    raw: Gunicorn,
    ours: Gunicorn,
    paths: Sequence[str],
    headers: dict[str, str],
    rounds: int,
    seconds: float,
    work: Path,
) -> tuple[list[Load], list[Load]]:
    """GET by id on both servers in interleaved rounds (raw, ours, then ours, raw, …).

    These machines are shared: a burst of someone else's load during one 10-second window
    would otherwise count against whichever server happened to be measured then.
    """
    raw_loads: list[Load] = []
    our_loads: list[Load] = []
    for index in range(rounds):
        order = [(raw, {}, raw_loads), (ours, headers, our_loads)]
        for server, server_headers, loads in order if index % 2 == 0 else order[::-1]:
            name = "bare Flask + psycopg" if server is raw else "ours"
            say(f"customers: GET by id, round {index + 1}/{rounds}, {name}: {seconds:.0f} s")
            loads.append(throughput(wrk, server.port, paths, server_headers, seconds, work))
    return raw_loads, our_loads


def _figures(loads: list[Load]) -> str:
    return "/".join(f"{load.requests_per_second:,.0f}" for load in loads)


def list_results(
    port: int, headers: dict[str, str], dsn: str, load: Workload, requests: int
) -> list[Result]:
    """Filtered list p50/p95 and a deep page, beside the same queries in raw SQL."""
    say(f"customers: filtered list, {requests} requests, each followed by its raw query")
    paths = [
        _query({"status": status, "city": city, "tag": str(tag)})
        for status, city, tag in load.filters
    ]
    queries = [(LIST_SQL, filters) for filters in load.filters]
    api, sql = paired_latencies(port, paths, headers, dsn, queries, requests)
    setup = f"{len(paths)} status x city x tag combinations, {requests} requests interleaved"
    results = [
        Result("list tag+city+status, p50", api.percentile(0.5), "ms", sql.percentile(0.5), False,
               note=f"{setup}; baseline: the same query in raw SQL (psycopg, rows fetched)"),
        Result("list tag+city+status, p95", api.percentile(0.95), "ms", sql.percentile(0.95),
               False, goal="<= 3x the raw SQL"),
    ]  # fmt: skip
    deep_paths = [
        _query({"cursor": encode_cursor(encode_position("-created_at", position))})
        for position in load.deep
    ]
    first = api_latencies(port, ["/customers"], headers, requests // 3)
    deep_queries = [(DEEP_SQL, position) for position in load.deep]
    deep, deep_sql = paired_latencies(port, deep_paths, headers, dsn, deep_queries, requests // 3)
    results.append(
        Result("list page 99% deep (keyset), p95", deep.percentile(0.95), "ms",
               deep_sql.percentile(0.95), False,
               note=f"first page p95 {first.percentile(0.95):.1f} ms; baseline: raw SQL of the "
               "same page"),
    )  # fmt: skip
    return results


def search_results(
    port: int, headers: dict[str, str], dsn: str, load: Workload, requests: int
) -> list[Result]:
    """`q` p95 over names, email parts and phones, beside the same LIKEs in raw SQL."""
    say(f"customers: q search, {requests} requests, each followed by its raw query")
    paths = [_query({"q": q}) for q in load.searches]
    queries = [search_sql(q) for q in load.searches]
    api, sql = paired_latencies(port, paths, headers, dsn, queries, requests)
    return [
        Result("q search, p95", api.percentile(0.95), "ms", sql.percentile(0.95), False,
               note=f"{len(load.searches)} searches (names, email parts, phones as typed); "
               f"p50 {api.percentile(0.5):.1f} ms vs {sql.percentile(0.5):.1f} ms raw"),
    ]  # fmt: skip


def bulk_result(url: str, dsn: str, port: int, headers: dict[str, str], load: Workload) -> Result:
    """Adding one tag to every customer of a city (~100,000), beside the set-based SQL."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            'INSERT INTO tag_projection (id, name, color, "order", is_fixed, updated_at) '
            "VALUES (%s, 'Bulk bench', '#000000', NULL, false, now()) ON CONFLICT DO NOTHING",
            (BULK_TAG_ID,),
        )
    undo_bulk(dsn, keep_tag=True)
    say(f"customers: bulk tag of {load.bulk_matched:,} customers in {load.bulk_city}, raw SQL")
    raw_seconds, raw_rows = bulk_sql_seconds(dsn, load.bulk_city)
    undo_bulk(dsn, keep_tag=True)
    note = f"{raw_rows:,} customers of {load.bulk_city}; baseline: INSERT … SELECT … ON CONFLICT"
    try:
        say("customers: the same through POST /customers/bulk")
        seconds, changed = bulk_api_seconds(url, port, headers, load.bulk_city)
        note += f"; API: {changed:,} changed, one customer.tagged event each"
    except (ImportError, RuntimeError) as exc:
        say(f"customers: the bulk action is not available ({exc}); raw SQL only")
        seconds, note = raw_seconds, note + f"; POST /customers/bulk unavailable: {exc}"
    finally:
        undo_bulk(dsn, keep_tag=False)
    return Result(f"bulk add tag to {load.bulk_matched:,}", seconds, "s", raw_seconds, False,
                  goal="<= 3x the raw SQL, same run", note=note)  # fmt: skip
