"""Finding the real servers the tests need: the local PostgreSQL and RabbitMQ.

Where a server does not answer, tests that need it are skipped, unless CRM_REQUIRE_SERVERS=1
(set by CI), which turns that skip into a failure.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

PG_ADMIN_URL = os.environ.get("CRM_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/")
AMQP_HOST = os.environ.get("CRM_TEST_AMQP_HOST", "127.0.0.1")
AMQP_PORT = int(os.environ.get("CRM_TEST_AMQP_PORT", "5672"))


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_server(name: str, host: str, port: int) -> None:
    """Skip (or, in CI, fail) the calling test when the server does not answer."""
    if _answers(host, port):
        return
    message = f"{name} does not answer on {host}:{port}"
    if os.environ.get("CRM_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{message} (CRM_REQUIRE_SERVERS=1)", pytrace=False)
    pytest.skip(message)


def require_postgres() -> None:
    """The local PostgreSQL must answer."""
    require_server("PostgreSQL", "127.0.0.1", 5432)


def require_rabbitmq() -> None:
    """The local RabbitMQ must answer."""
    require_server("RabbitMQ", AMQP_HOST, AMQP_PORT)


def worker_id() -> str:
    """This test process, unique on the machine (several test runs may share the servers)."""
    return f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def rabbitmqctl(*args: str) -> None:
    """Run rabbitmqctl (the broker runs on this machine)."""
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


def delete_vhost(name: str) -> None:
    """Remove a virtual host and everything in it."""
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=120)


def fresh_vhost(name: str) -> str:
    """An empty RabbitMQ virtual host the guest user may use; its AMQP URL."""
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True, timeout=120)
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    set_delivery_limit_policy(name, TEST_DELIVERY_LIMIT)
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/{name}"


# The tests' delivery limit (tests/conftest.py's settings_for uses the same).
TEST_DELIVERY_LIMIT = 3


def set_delivery_limit_policy(vhost: str, delivery_limit: int) -> None:
    """Apply the suite's delivery-limit policy to the service queues of a virtual host."""
    from shared.broker import setup_development_broker

    setup_development_broker([], delivery_limit, vhost)


def broker_user_url(vhost_url: str, user: str) -> str:
    """`vhost_url` logged in as the broker user `user` (created with its development password
    if missing), allowed on that virtual host what its owner table allows: any queue of its
    own, and writing to `crm.events` only the event types it owns."""
    from urllib.parse import quote, urlsplit

    from shared.broker import setup_development_broker
    from shared.events.owners import development_broker_password

    vhost = urlsplit(vhost_url).path.lstrip("/") or "/"
    setup_development_broker([user], TEST_DELIVERY_LIMIT, vhost)
    password = development_broker_password(user)
    return f"amqp://{quote(user)}:{quote(password)}@{AMQP_HOST}:{AMQP_PORT}/{quote(vhost, safe='')}"


def cut_database_sessions(url: str) -> int:
    """Terminate every session of this database but the caller's, as a restart would; how many."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).all()
            )
    finally:
        engine.dispose()
