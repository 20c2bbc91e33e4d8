"""The suite the automation benchmark runs on (`bench_automation`): both databases migrated,
the broker's topology declared, the customers API under gunicorn and the customers and
automation workers as `crm worker` processes, as deployed; customers and their facts seeded
directly in the databases, as if their `customer.created` had been handled."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pika
import psycopg
from sqlalchemy.engine import make_url

from bench.harness import fresh_database
from bench.servers import ROOT, Gunicorn
from shared.auth.issuing import issue_token
from shared.broker import setup_development_broker
from shared.db import utcnow
from shared.events.owners import broker_user, development_broker_password
from shared.migrations import migrate
from shared.settings import Settings
from shared.suite import declare_broker_topology

VHOST = "crm_bench_automation"
DATABASES = {"customers": "crm_bench_automation_customers", "automation": "crm_bench_automation"}


# --- the suite under test -----------------------------------------------------------------------
def _user_url(vhost_url: str, user: str) -> str:
    setup_development_broker([user], 5, VHOST)
    return vhost_url.replace("guest:guest", f"{user}:{development_broker_password(user)}")


class Suite:
    """Both databases migrated, the broker's topology declared, then (`start`) the customers API
    under gunicorn and the two workers as `crm worker` processes."""

    def __init__(self, vhost_url: str, work: Path) -> None:
        self.work = work
        self.database_urls = {name: fresh_database(db) for name, db in DATABASES.items()}
        self.broker_urls = {
            name: _user_url(vhost_url, broker_user(name)) for name in ("customers", "automation")
        }
        self.billing_url = _user_url(vhost_url, "billing")
        for service in DATABASES:
            settings = Settings(
                service=service,
                database_urls={service: self.database_urls[service]},
                broker_url=self.broker_urls[service],
            )
            migrate(settings)
            declare_broker_topology(settings)
        self.api = Gunicorn(
            "services.customers.app:create_app()",
            {"CRM_CUSTOMERS_DATABASE_URL": self.database_urls["customers"]},
            work / "customers-api.log",
        )
        self.workers: list[subprocess.Popen[bytes]] = []
        token = issue_token(
            Settings(service="customers"), "staff:bench", ["customers:read"], audience=["customers"]
        )
        self.headers = {"Authorization": f"Bearer {token}"}

    def dsn(self, service: str) -> str:
        """The libpq connection string of a service's database."""
        url = make_url(self.database_urls[service])
        return f"host={url.host} port={url.port} user={url.username} dbname={url.database}"

    def start(self, probe_id: uuid.UUID) -> None:
        """The API, then the workers; returns once both consumers are on their queues."""
        self.api.start(f"/customers/{probe_id}", self.headers)
        environment = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        for service in ("customers", "automation"):
            env = {
                **environment,
                "CRM_ENV": "development",
                "CRM_LOG_LEVEL": "WARNING",
                f"CRM_{service.upper()}_DATABASE_URL": self.database_urls[service],
                f"CRM_{service.upper()}_BROKER_URL": self.broker_urls[service],
                "CRM_CUSTOMERS_URL": f"http://127.0.0.1:{self.api.port}",
            }
            with (self.work / f"{service}-worker.log").open("wb") as log:
                command = [sys.executable, "-c", "from shared.cli import main; main()"]
                self.workers.append(
                    subprocess.Popen(
                        [*command, "worker", service],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        deadline = time.monotonic() + 30
        while not all(self._consumed(service) for service in DATABASES):
            if time.monotonic() > deadline or any(w.poll() is not None for w in self.workers):
                raise RuntimeError(f"the workers did not start; see {self.work}")
            time.sleep(0.2)

    def _consumed(self, service: str) -> bool:
        connection = pika.BlockingConnection(pika.URLParameters(self.broker_urls[service]))
        try:
            declared = connection.channel().queue_declare(f"{service}.events", passive=True)
            return bool(declared.method.consumer_count)
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the workers and the API."""
        for worker in self.workers:
            worker.terminate()
        for worker in self.workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(5)
        self.api.stop()


# --- seeding ------------------------------------------------------------------------------------
def seed_customers(
    suite: Suite, leads: int, actives: int
) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """`leads` leads and `actives` active customers in customers, known to automation's facts
    (their `customer.created` handled); their ids."""
    lead_ids = [uuid.uuid4() for _ in range(leads)]
    active_ids = [uuid.uuid4() for _ in range(actives)]
    past = utcnow() - timedelta(days=400)
    _copy(
        suite.dsn("customers"),
        "COPY customers (id, kind, first_name, last_name, sort_name, email, email_key,"
        " shipping_addresses, email_consent, newsletter_subscribed, is_supplier, is_conflict,"
        " status, status_changed_at, login_enabled, email_confirmed, search_text, version,"
        " created_at, updated_at) FROM STDIN",
        (
            (c, "individual", "Ada", "Bench", "bench ada", f"{c.hex}@bench.example",
             f"{c.hex}@bench.example", "[]", False, False, False, False, status, past, False,
             False, "ada bench", 1, past, past)
            for c, status in _statuses(lead_ids, active_ids)
        ),
    )  # fmt: skip
    _copy(
        suite.dsn("automation"),
        "COPY customer_facts (customer_id, known, deleted, status, status_at, kind, profile,"
        " since, last_interaction_at, purchases_count, payments_count, invoices_count,"
        " appointments_count, support_requests_count, emails_clicked_count) FROM STDIN",
        (
            (c, True, False, status, past, "individual", '{"language": "fr"}', past, past,
             0, 0, 0, 0, 0, 0)
            for c, status in _statuses(lead_ids, active_ids)
        ),
    )  # fmt: skip
    return lead_ids, active_ids


def _copy(dsn: str, sql: str, rows: Any) -> None:
    with (
        psycopg.connect(dsn) as connection,
        connection.cursor() as cursor,
        cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _statuses(leads: Sequence[uuid.UUID], actives: Sequence[uuid.UUID]) -> Any:
    yield from ((customer_id, "lead") for customer_id in leads)
    yield from ((customer_id, "active") for customer_id in actives)


def seed_more_facts(suite: Suite, count: int) -> None:
    """`count` more customers' facts, active or VIP with a recent interaction (not due)."""
    with psycopg.connect(suite.dsn("automation")) as connection:
        connection.execute(
            "INSERT INTO customer_facts (customer_id, known, deleted, status, status_at, kind,"
            " profile, since, last_interaction_at, purchases_count, payments_count,"
            " invoices_count, appointments_count, support_requests_count, emails_clicked_count)"
            " SELECT gen_random_uuid(), true, false,"
            " (ARRAY['active', 'vip', 'lead', 'inactive'])[1 + n %% 4],"
            " now() - interval '1 year', 'individual', '{}', now() - interval '2 years',"
            " now() - (n %% 170) * interval '1 day', 0, 1, 0, 0, 0, 0"
            " FROM generate_series(1, %s) AS n",
            (count,),
        )
        connection.commit()
        connection.autocommit = True
        connection.execute("VACUUM ANALYZE customer_facts")
