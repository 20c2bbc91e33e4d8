"""A worker killed mid-stream (SIGKILL) loses nothing and does nothing twice once restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from kombu import Connection, Producer

from shared.events.envelope import make_event
from shared.events.topology import EVENTS_EXCHANGE
from tests.backbone import wait_until
from tests.conftest import TEST_SECRET, settings_for

pytestmark = pytest.mark.serial

CRM = str(Path(sys.executable).with_name("crm"))
EVENTS = 1500


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [CRM, "worker", "tags"], env=env, stdout=out, stderr=out, start_new_session=True
        )


def test_a_killed_tags_worker_counts_every_customer_once_after_restart(
    pg_settings, broker_urls, tmp_path
):
    url = pg_settings("tags").database_url
    env = {
        **os.environ,
        "CRM_BROKER_URL": broker_urls("tags"),
        "CRM_TAGS_DATABASE_URL": url,
        "CRM_JWT_SECRET": TEST_SECRET,
        "CRM_DELIVERY_LIMIT": str(settings_for("tags").delivery_limit),
        "CRM_LOG_LEVEL": "WARNING",
    }
    assert subprocess.run([CRM, "migrate", "tags"], env=env, capture_output=True).returncode == 0
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    tag_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO tags (id, name, name_key, description, color, is_fixed,"
                " customers_count, version, created_at, updated_at)"
                " VALUES (:id, 'Killed', 'killed', 'x', '#000000', false, 0, 1, now(), now())"
            ),
            {"id": tag_id},
        )
    with Connection(broker_urls("customers")) as connection:
        producer = Producer(connection)
        for _ in range(EVENTS):
            event = make_event(
                "customer.tagged",
                {"customer_id": str(uuid.uuid4()), "tag_id": str(tag_id)},
                source="customers",
            )
            producer.publish(
                event.to_json(),
                exchange=EVENTS_EXCHANGE,
                routing_key=event.type,
                content_type="application/json",
                delivery_mode=2,
                user_id="crm-customers",
            )

    def counted() -> int:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    sa.text("SELECT customers_count FROM tags WHERE id = :id"), {"id": tag_id}
                )
            )

    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        wait_until(lambda: counted() > 0, timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        assert counted() < EVENTS, "the worker finished before it could be killed"
        worker = start_worker(env, log)
        wait_until(lambda: counted() >= EVENTS, timeout=120)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)
        engine.dispose()
    with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as connection:
        inbox = connection.scalar(sa.text("SELECT count(*) FROM inbox"))
    assert counted() == EVENTS
    assert inbox == EVENTS
