"""Customers at a million rows, under gunicorn (2 workers), each figure beside its raw baseline.

The database `crm_bench_customers` is seeded once with COPY (1,000,000 customers, 20 tags with a
skewed spread, skewed cities and statuses, phones, newsletter lists) and kept between runs: it is
reseeded only when its row count or this generator's version differs. Then, in the same run:
- `GET /customers/{id}` requests/s, beside a bare Flask app fetching the row with psycopg;
- `GET /customers?tag=…&city=…&status=…` p50/p95, beside the same query in raw SQL;
- a deep page of the unfiltered list (keyset) beside the first one;
- `GET /customers?q=…` p95 (names, email parts, phones in several writings), beside raw SQL;
- `POST /customers/bulk` adding one tag to every customer of a city (~100,000) until its job is
  done, beside the set-based SQL `INSERT … SELECT … ON CONFLICT DO NOTHING`.
Scale with CRM_BENCH_CUSTOMERS, CRM_BENCH_CUSTOMERS_SECONDS, CRM_BENCH_CUSTOMERS_REQUESTS.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from flask import Flask, abort, jsonify
from psycopg.rows import dict_row
from sqlalchemy.engine import make_url

from bench.bench_http import find_wrk, parse_wrk
from bench.harness import PG_ADMIN_URL, Result, env_float, env_int, free_port, say
from bench.load import Load
from shared.auth import issue_token
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "crm_bench_customers"
SEED_VERSION = 1  # bump when the generator changes: the next run reseeds
JWT_SECRET = "bench-customers-secret-long-enough-for-hs256-0123456789"  # noqa: S105
WORKERS = 2
LOAD_THREADS = 2
LOAD_CONNECTIONS = 16
PAGE = 50
BULK_TAG_ID = uuid.UUID("0b0b0b0b-0000-4000-8000-00000000b0b0")

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
FIRST_NAMES = (
    "Jean Marie Pierre Michel Nathalie Isabelle Philippe Sylvie Catherine Nicolas Christophe "
    "Sophie Stéphane Sandrine Frédéric Valérie Laurent Céline Julien Aurélie Thomas Camille Léa "
    "Hugo Chloé Lucas Manon Emma Louis Inès Gabriel Jade Arthur Louise Raphaël Alice Jules Lina "
    "Adam Rose Paul Anna Victor Zoé Noah Mila Théo Eva Nathan Clara Maxime Sarah Antoine Julie "
    "Alexandre Pauline Romain Marine Kevin Laura Mathieu Elodie Guillaume Emilie Vincent Lucie"
).split()
LAST_NAMES = (
    "Martin Bernard Thomas Petit Robert Richard Durand Dubois Moreau Laurent Simon Michel Lefebvre "
    "Leroy Roux David Bertrand Morel Fournier Girard Bonnet Dupont Lambert Fontaine Rousseau "
    "Vincent Muller Lefèvre Faure André Mercier Blanc Guérin Boyer Garnier Chevalier François "
    "Legrand Gauthier Garcia Perrin Robin Clément Morin Nicolas Henry Roussel Mathieu Gautier "
    "Masson Marchand Duval Denis Dumont Marie Lemaire Noël Meyer Dufour Meunier Brun Blanchard "
    "Giraud Joly Rivière Lucas Brunet Gaillard Barbier Arnaud Martinez Gérard Roche Renard Schmitt "
    "Roy Leroux Colin Vidal Caron Picard Roger Fabre Aubert Lemoine Renaud Dumas Lacroix Olivier "
    "Philippe Bourgeois Pierre Benoit Rey Leclerc Payet Rolland Leclercq Guillaume Lecomte Lopez"
).split()
COMPANY_SUFFIXES = ("SARL", "SAS", "SA", "& Fils", "Conseil", "Industries", "Services", "Bio")
DOMAINS = ("gmail.com", "orange.fr", "free.fr", "yahoo.fr", "hotmail.com", "laposte.net")
STATUSES = (("lead", 40), ("prospect", 22), ("active", 25), ("vip", 3), ("inactive", 10))
LANGUAGES = (("fr", 78), ("fr_BE", 6), ("en", 6), ("de", 3), ("nl", 3), ("it", 2), ("fr_CH", 2))
CHANNELS = (("web", 45), ("shop", 20), ("referral", 10), ("instagram", 8), ("fair", 5), (None, 12))
TAG_NAMES = (
    "Newsletter VIP",
    "Fidèle",
    "Nouveau",
    "Prospect chaud",
    "B2B",
    "Salon 2024",
    "Parrain",
    "Intéressé",
    "Promo été",
    "Black Friday",
    "Abonné box",
    "Ancien client",
    "Grand compte",
    "Revendeur",
    "Partenaire",
    "Presse",
    "Influenceur",
    "Bêta-testeur",
    "Ambassadeur",
    "À relancer",
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
        .translate(str.maketrans("éèêëàâîïôöùûüçÉ", "eeeeaaiioouuucE"))
        .replace(" ", "")
        .replace("'", "")
    )


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    return str(value)


@dataclass
class Population:
    """The COPY text of the child tables, built while the customers stream out."""

    phones: list[str]
    tags: list[str]
    lists: list[str]


def customer_lines(count: int, population: Population, chunk: int = 20_000) -> Iterator[str]:
    """COPY text of `count` customers in chunks, deterministic; fills `population` as it goes."""
    rng = random.Random(20_240_601)
    statuses = rng.choices([s for s, _ in STATUSES], [w for _, w in STATUSES], k=count)
    languages = rng.choices([s for s, _ in LANGUAGES], [w for _, w in LANGUAGES], k=count)
    channels = rng.choices([s for s, _ in CHANNELS], [w for _, w in CHANNELS], k=count)
    cities = rng.choices(CITIES, _zipf(len(CITIES)), k=count)
    tag_counts = rng.choices(
        [n for n, _ in TAGS_PER_CUSTOMER], [w for _, w in TAGS_PER_CUSTOMER], k=count
    )
    tags = tag_ids()
    tag_weights = _zipf(len(tags))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    step = timedelta(days=5 * 365) / count
    lines: list[str] = []
    for index in range(count):
        customer_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        city, region, postal_code, country, prefix = cities[index]
        last = rng.choice(LAST_NAMES)
        if rng.random() < 0.15:
            kind, first, company = "company", None, f"{last} {rng.choice(COMPANY_SUFFIXES)}"
            sort_name, email_name, person = company.lower(), _ascii(company), None
        else:
            kind, first, company = "individual", rng.choice(FIRST_NAMES), None
            sort_name, email_name = f"{last} {first}".lower(), f"{_ascii(first)}.{_ascii(last)}"
            person = last
        email = f"{email_name}{index}@{rng.choice(DOMAINS)}" if rng.random() < 0.9 else None
        words = [first, person, company, email]
        if rng.random() < 0.85:
            mobile = f"{prefix}{rng.randrange(10**8):08d}"
            phones = [mobile]
            if rng.random() < 0.2:
                phones.append(f"+331{rng.randrange(10**8):08d}")
            for position, number in enumerate(phones):
                population.phones.append(
                    f"{customer_id}\t{position}\t{number}\t{'mobile' if position == 0 else 'home'}"
                    f"\t{_copy_value(rng.random() < 0.3)}\tf\tf\n"
                )
                words += [number, number[1:], f"0{number[3:]}"]
        created = start + step * index + timedelta(seconds=rng.random())
        for tag_id in set(rng.choices(tags, tag_weights, k=tag_counts[index])):
            population.tags.append(f"{customer_id}\t{tag_id}\t{created.isoformat()}\n")
        subscribed = rng.random() < 0.35
        if subscribed:
            population.lists.append(f"{customer_id}\tweekly\n")
            if rng.random() < 0.3:
                population.lists.append(f"{customer_id}\toffers\n")
        values = (
            customer_id,
            kind,
            first,
            None if kind == "company" else last,
            company,
            sort_name,
            email,
            email.lower() if email else None,
            languages[index],
            f"{rng.randrange(1, 200)} rue {rng.choice(LAST_NAMES)}",
            postal_code,
            city,
            region,
            country,
            subscribed,
            subscribed,
            "[]",
            rng.random() < 0.01,
            rng.random() < 0.005,
            statuses[index],
            created.isoformat(),
            channels[index],
            False,
            False,
            " ".join(word for word in words if word).lower(),
            1,
            created.isoformat(),
            created.isoformat(),
        )
        lines.append("\t".join(map(_copy_value, values)) + "\n")
        if len(lines) >= chunk:
            yield "".join(lines)
            lines = []
    if lines:
        yield "".join(lines)


# --- seeding ------------------------------------------------------------------------------------
def database_url() -> str:
    """The benchmark database's SQLAlchemy URL."""
    return make_url(PG_ADMIN_URL).set(database=DATABASE).render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as psycopg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _seed_mark(count: int) -> str:
    return f"crm bench seed v{SEED_VERSION}: {count} customers"


def ensure_seeded(count: int) -> str:
    """Migrate the benchmark database and seed it unless it already holds this seed; its URL."""
    from shared.migrations import migrate

    url = database_url()
    migrate(Settings(service="customers", database_urls={"customers": url}))
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        mark = connection.execute(
            "SELECT obj_description('customers'::regclass, 'pg_class')"
        ).fetchone()
        rows = connection.execute("SELECT count(*) FROM customers").fetchone()
        if mark and mark[0] == _seed_mark(count) and rows and rows[0] == count:
            say(f"customers: {count:,} customers already seeded in {DATABASE}")
            return url
        started = time.perf_counter()
        seed(connection, count)
        say(f"customers: seeded {count:,} customers in {time.perf_counter() - started:.0f} s")
    return url


def seed(connection: psycopg.Connection[Any], count: int) -> None:
    """Empty the tables, drop their secondary indexes, COPY, rebuild the indexes, analyze."""
    tables = ", ".join(SEEDED_TABLES)
    connection.execute(f"TRUNCATE {tables}, outbox, inbox, segments, bulk_jobs CASCADE")
    indexes = connection.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint)",
        (list(SEEDED_TABLES),),
    ).fetchall()
    for name, _ in indexes:
        connection.execute(f'DROP INDEX "{name}"')
    # The rows are consistent by construction: no foreign-key trigger per row (superuser only).
    connection.execute("SET session_replication_role = replica")
    connection.execute("SET maintenance_work_mem = '1GB'")
    population = Population([], [], [])
    started = time.perf_counter()
    with connection.transaction():
        with connection.cursor().copy(f"COPY customers ({CUSTOMER_COLUMNS}) FROM STDIN") as copy:
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
            with connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
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
    for name, definition in indexes:
        index_started = time.perf_counter()
        connection.execute(definition)
        say(f"customers: built {name} in {time.perf_counter() - index_started:.1f} s")
    connection.execute("VACUUM (ANALYZE) customers, customer_phones, customer_tags")
    connection.execute("ANALYZE customer_newsletter_lists, tag_projection")
    connection.execute(f"COMMENT ON TABLE customers IS '{_seed_mark(count)}'")
