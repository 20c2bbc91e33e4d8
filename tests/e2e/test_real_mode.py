"""The real mode: each service's web (gunicorn) and worker as separate processes over RabbitMQ
and PostgreSQL, driven over HTTP as another system would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from shared.auth.issuing import issue_token
from tests.backbone import wait_until
from tests.conftest import TEST_SECRET, settings_for
from tests.e2e.test_embedded_mode import free_port

CRM = str(Path(sys.executable).with_name("crm"))


@pytest.fixture
def real_suite(pg_settings, broker_urls, tmp_path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        # Each service logs in to the broker as its own user.
        "CRM_TAGS_BROKER_URL": broker_urls("tags"),
        "CRM_CUSTOMERS_BROKER_URL": broker_urls("customers"),
        "CRM_JWT_SECRET": TEST_SECRET,
        "CRM_LOG_LEVEL": "INFO",
        # As in settings_for: queue arguments must agree with the other tests' declarations.
        "CRM_DELIVERY_LIMIT": str(settings_for("tags").delivery_limit),
        "WEB_CONCURRENCY": "1",
        "CRM_DATA_DIR": str(tmp_path),
    }
    urls: dict[str, str] = {}
    processes: list[subprocess.Popen[bytes]] = []
    for service in ("tags", "customers"):
        env[f"CRM_{service.upper()}_DATABASE_URL"] = pg_settings(service).database_url
    for service in ("tags", "customers"):
        done = subprocess.run([CRM, "migrate", service], env=env, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()[-3000:]
    for service in ("tags", "customers"):
        port = free_port()
        urls[service] = f"http://127.0.0.1:{port}"
        for role in ("web", "worker"):
            log = (tmp_path / f"{service}-{role}.log").open("wb")  # noqa: SIM115
            processes.append(
                subprocess.Popen(
                    [CRM, role, service],
                    env={**env, "PORT": str(port)},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
    try:
        for service, url in urls.items():
            wait_until(lambda url=url, service=service: _up(url, service), timeout=60)
        yield urls
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _up(url: str, service: str) -> bool:
    try:
        return requests.get(f"{url}/{service}/readyz", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def test_a_tag_created_over_http_reaches_the_customers_worker_over_rabbitmq(
    real_suite, pg_settings
):
    token = issue_token(
        settings_for("tags"), "staff:e2e", ["tags:write", "customers:read"], audience=["tags"]
    )
    response = requests.post(
        f"{real_suite['tags']}/tags",
        json={"name": "Real mode", "description": "through RabbitMQ", "color": "#ABC"},
        headers={"Authorization": f"Bearer {token}", "X-Correlation-ID": "e2e-corr-1"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    tag_id = response.json()["id"]
    engine = sa.create_engine(pg_settings("customers").database_url)

    def projected() -> list[tuple[str, str]]:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    sa.text("SELECT name, color FROM tag_projection WHERE id = :id"),
                    {"id": tag_id},
                )
            )

    try:
        assert wait_until(projected, timeout=30) == [("Real mode", "#aabbcc")]
    finally:
        engine.dispose()


def watch_for(process: subprocess.Popen[bytes], text: bytes) -> threading.Event:
    """Set once `text` shows in a line of the process's stderr. A thread reads the lines (and
    keeps reading, so that the pipe never fills), so no wait blocks on a line that never comes."""
    seen = threading.Event()

    def _read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            if text in line:
                seen.set()

    threading.Thread(target=_read, daemon=True).start()
    return seen


def test_worker_stops_cleanly_on_sigterm(pg_settings, broker_urls, tmp_path):
    env = {
        **os.environ,
        "CRM_BROKER_URL": broker_urls("tags"),
        "CRM_TAGS_DATABASE_URL": pg_settings("tags").database_url,
        "CRM_JWT_SECRET": TEST_SECRET,
        "CRM_DELIVERY_LIMIT": str(settings_for("tags").delivery_limit),
    }
    process = subprocess.Popen(
        [CRM, "worker", "tags"], env=env, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        started = watch_for(process, b"worker started")
        wait_until(started.is_set, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
