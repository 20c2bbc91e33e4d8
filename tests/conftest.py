"""Fixtures shared by every test level: settings, real databases and broker, tokens."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import make_url

from shared.auth.issuing import issue_token
from shared.db import OutboxMessage
from shared.events.owners import broker_user
from shared.migrations import migrate
from shared.settings import SERVICES, Settings

# Prints last how many tests were skipped for want of a server (tests/server_skips.py).
from tests.server_skips import pytest_runtest_logreport, pytest_unconfigure  # noqa: F401
from tests.servers import (
    PG_ADMIN_URL,
    TEST_DELIVERY_LIMIT,
    broker_user_url,
    delete_vhost,
    fresh_vhost,
    require_postgres,
    require_rabbitmq,
    worker_id,
)

TEST_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"


def settings_for(service: str, **overrides: Any) -> Settings:
    """Settings of a service for tests: the test secret, fast relays, small limits."""
    base = Settings(
        service=service,
        jwt_secret=TEST_SECRET,
        relay_idle_seconds=30.0,  # commits wake the relays; a test waiting 30 s found a bug
        delivery_limit=TEST_DELIVERY_LIMIT,
        prefetch=20,
    )
    return base.__class__(**{**base.__dict__, **overrides})


def bearer(
    *scopes: str,
    subject: str = "staff:test",
    audience: tuple[str, ...] = SERVICES,
    kind: str = "staff",
    customer_id: str | None = None,
) -> dict[str, str]:
    """Authorization headers for a token of the test secret: by default, a staff member's for
    every service, granting `scopes`."""
    token = issue_token(
        settings_for("customers"),
        subject,
        scopes,
        audience=audience,
        kind=kind,
        customer_id=customer_id,
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_token() -> Callable[..., dict[str, str]]:
    """Authorization headers for a token (`bearer`): a staff token granting the given scopes."""
    return bearer


def _pg_database_url(service: str) -> str:
    name = f"crm_test_{service}_{worker_id()}"
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _recreate_pg_database(url: str) -> None:
    target = make_url(url).database
    admin = sa.create_engine(
        make_url(url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{target}"'))
    admin.dispose()


def _drop_pg_database(url: str) -> None:
    admin = sa.create_engine(
        make_url(url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    with admin.connect() as connection:
        connection.execute(
            sa.text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
        )
    admin.dispose()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[dict[str, str]]:
    """One fresh, migrated PostgreSQL database per service for this test process."""
    require_postgres()
    urls = {}
    try:
        for service in SERVICES:
            url = _pg_database_url(service)
            _recreate_pg_database(url)
            urls[service] = url
            migrate(settings_for(service, database_urls={service: url}))
        yield urls
    finally:
        for url in urls.values():
            _drop_pg_database(url)


def truncate_all(url: str, keep: tuple[str, ...] = ("alembic_version",)) -> None:
    """Empty every table of a database (between tests)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        tables = [name for name in sa.inspect(connection).get_table_names() if name not in keep]
        if tables:
            quoted = ", ".join(f'"{name}"' for name in tables)
            connection.execute(sa.text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """An empty RabbitMQ virtual host for this test process."""
    require_rabbitmq()
    name = f"crm_test_{worker_id()}"
    yield fresh_vhost(name)
    delete_vhost(name)


@pytest.fixture(scope="session")
def broker_urls(amqp_url: str) -> Callable[[str], str]:
    """The test virtual host as a service's broker user (`crm-<service>`), or another system's
    (`billing`...)."""
    urls: dict[str, str] = {}

    def _url(name: str) -> str:
        user = broker_user(name) if name in SERVICES else name
        if user not in urls:
            urls[user] = broker_user_url(amqp_url, user)
        return urls[user]

    return _url


@pytest.fixture
def unique() -> Callable[[str], str]:
    """Random names, so that tests sharing a server do not see each other's data."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def pg_settings(pg_databases: dict[str, str]) -> Iterator[Callable[..., Settings]]:
    """Settings for a service on its (emptied) PostgreSQL test database."""
    used: set[str] = set()

    def _make(service: str, **overrides: Any) -> Settings:
        if service not in used:
            truncate_all(pg_databases[service])
            used.add(service)
        return settings_for(service, database_urls={service: pg_databases[service]}, **overrides)

    yield _make


@pytest.fixture
def outbox(app: Any) -> Callable[..., list[dict[str, Any]]]:
    """The events in the `app`'s outbox (envelopes), oldest first, maybe of one type or subject."""

    def _events(type: str | None = None, subject: object | None = None) -> list[dict[str, Any]]:
        statement = select(OutboxMessage).order_by(OutboxMessage.id)
        if type is not None:
            statement = statement.where(OutboxMessage.type == type)
        if subject is not None:
            statement = statement.where(OutboxMessage.subject == str(subject))
        with app.extensions["crm"].session_factory() as session:
            return [json.loads(message.payload) for message in session.scalars(statement)]

    return _events
