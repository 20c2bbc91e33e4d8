"""Indexes of large tables are built CONCURRENTLY: upgrading a live database does not block writes.

customers' migration 0004 builds the list's indexes on a table that may hold a million rows. On
PostgreSQL, a plain CREATE INDEX holds a SHARE lock for the whole build, and every INSERT, UPDATE
or DELETE waits; CREATE INDEX CONCURRENTLY does not.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from shared.migrations import migrate
from tests.backbone import wait_until
from tests.conftest import _drop_pg_database, _recreate_pg_database, settings_for
from tests.servers import PG_ADMIN_URL, require_postgres, worker_id

pytestmark = pytest.mark.needs_postgres

LIST_INDEXES = {
    "ix_customers_sort_name_id",
    "ix_customers_country_created_at_id_status",
    "ix_customers_suppliers_created_at_id",
    "ix_customers_search_text_trgm",
    "ix_customers_lower_city_created_at_id_status",
    "ix_customers_lower_region_created_at_id_status",
    "ix_customers_lower_postal_code_created_at_id_status",
}


@pytest.fixture
def database() -> Iterator[str]:
    require_postgres()
    name = f"crm_test_concurrent_{worker_id()}"
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    _recreate_pg_database(url)
    try:
        yield url
    finally:
        _drop_pg_database(url)


def index_validity(url: str) -> dict[str, bool]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT c.relname, i.indisvalid AND i.indisready FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid "
                    "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = 'customers'"
                )
            )
            return {name: valid for name, valid in rows}
    finally:
        engine.dispose()


def test_writes_go_on_while_the_list_indexes_are_built(database: str) -> None:
    settings = settings_for("customers", database_urls={"customers": database})
    migrate(settings, "customers_0003")
    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    # A transaction writing to customers is open when the upgrade starts: the build must wait
    # for it, but must not make the writes that come after it wait.
    earlier = engine.connect()
    earlier.execute(sa.text("LOCK TABLE customers IN ROW EXCLUSIVE MODE"))
    failure: list[BaseException] = []

    def upgrade() -> None:
        try:
            migrate(settings)
        except BaseException as exc:  # noqa: BLE001
            failure.append(exc)

    upgrading = threading.Thread(target=upgrade, daemon=True)
    upgrading.start()
    try:
        building = sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND query ILIKE 'CREATE INDEX%' AND wait_event_type = 'Lock'"
        )

        def waiting_build() -> bool:
            if failure:
                return True
            with engine.connect() as watcher:  # a new snapshot of pg_stat_activity each time
                return bool(watcher.scalar(building))

        wait_until(waiting_build, timeout=60, interval=0.05)
        assert not failure, failure
        with engine.connect() as later:
            later.execute(sa.text("SET lock_timeout = '3s'"))
            # What every INSERT, UPDATE and DELETE takes; a plain CREATE INDEX makes it wait.
            later.execute(sa.text("LOCK TABLE customers IN ROW EXCLUSIVE MODE"))
            later.rollback()
    finally:
        earlier.rollback()
        earlier.close()
        upgrading.join(120)
        engine.dispose()
    assert not upgrading.is_alive() and not failure, failure


def test_the_list_indexes_come_out_valid(database: str) -> None:
    settings = settings_for("customers", database_urls={"customers": database})
    migrate(settings, "customers_0003")
    # As an interrupted CREATE INDEX CONCURRENTLY leaves one: there, but invalid.
    engine = sa.create_engine(database, poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE INDEX ix_customers_sort_name_id ON customers (id)"))
        connection.execute(
            sa.text(
                "UPDATE pg_index SET indisvalid = false "
                "WHERE indexrelid = 'ix_customers_sort_name_id'::regclass"
            )
        )
    engine.dispose()
    assert index_validity(database)["ix_customers_sort_name_id"] is False
    migrate(settings)
    validity = index_validity(database)
    assert set(validity) >= LIST_INDEXES, set(validity)
    assert all(validity.values()), validity
