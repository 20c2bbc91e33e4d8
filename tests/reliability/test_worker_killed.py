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
FIRST = 500  # events of the first tag, published first (ten batches and more)


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
        "CRM_PREFETCH": "50",
    }
    assert subprocess.run([CRM, "migrate", "tags"], env=env, capture_output=True).returncode == 0
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    # The first tag's customers come first; the test holds the second tag's row, so the worker
    # commits batches of the first tag, then stops inside the transaction of its first batch
    # that reaches the second tag, waiting for the row: killed there, it is killed mid-stream
    # (some events committed, a batch delivered, open and not acked), whatever its speed.
    first_tag, held_tag = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        for tag_id, name, key in ((first_tag, "Killed", "killed"), (held_tag, "Held", "held")):
            connection.execute(
                sa.text(
                    "INSERT INTO tags (id, name, name_key, description, color, is_fixed,"
                    " customers_count, version, created_at, updated_at)"
                    " VALUES (:id, :name, :key, 'x', '#000000', false, 0, 1, now(), now())"
                ),
                {"id": tag_id, "name": name, "key": key},
            )
    with Connection(broker_urls("customers")) as connection:
        producer = Producer(connection)
        for number in range(EVENTS):
            event = make_event(
                "customer.tagged",
                {
                    "customer_id": str(uuid.uuid4()),
                    "tag_id": str(first_tag if number < FIRST else held_tag),
                },
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

    def counted(tag_id: uuid.UUID) -> int:
        with engine.connect() as connection:
            return int(
                connection.scalar(
                    sa.text("SELECT customers_count FROM tags WHERE id = :id"), {"id": tag_id}
                )
            )

    def worker_waits_for_a_row() -> bool:
        with engine.connect() as connection:
            return bool(
                connection.scalar(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                    )
                )
            )

    log = tmp_path / "worker.log"
    holder = engine.connect()
    transaction = holder.begin()
    holder.execute(sa.text("SELECT 1 FROM tags WHERE id = :id FOR UPDATE"), {"id": held_tag})
    worker = start_worker(env, log)
    try:
        wait_until(worker_waits_for_a_row, timeout=120)
        assert 0 < counted(first_tag) <= FIRST
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
        transaction.rollback()
        assert counted(held_tag) == 0  # the waiting batch died with the worker
        worker = start_worker(env, log)
        wait_until(lambda: counted(first_tag) + counted(held_tag) >= EVENTS, timeout=120)
    finally:
        holder.close()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)
        engine.dispose()
    with sa.create_engine(url, poolclass=sa.pool.NullPool).connect() as connection:
        inbox = connection.scalar(sa.text("SELECT count(*) FROM inbox"))
    assert (counted(first_tag), counted(held_tag)) == (FIRST, EVENTS - FIRST)
    assert inbox == EVENTS
