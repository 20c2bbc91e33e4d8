"""Indexes for the customer list: trigram search, per-filter keyset orders, sort by name.

Each filter with many distinct values gets an index that also carries the list's order
(`created_at, id`), so that a filtered page is read in order from it and stops after `limit`
rows, however deep the cursor. `status` rides at the end of those indexes: the commonest
companion filter is then checked in the index, without a visit to the table for each customer
of the city that is not in the status. `q` uses a trigram GIN index (pg_trgm) on PostgreSQL.
SQLite, used in the embedded mode, only needs to stay correct: it gets the plain indexes.
On PostgreSQL every index is built CONCURRENTLY, outside a transaction, so that upgrading a live
table does not block its writes.

Measured at 1,000,000 customers (bench/bench_customers.py): tag + city + status, first page,
27 ms → 2.7 ms with `status` in the city index; parallel plans (worker start-up ~20 ms for a
50-row page on 2 cores) made the p95 57 ms against 11 ms without, hence `parallel_workers = 0`.

Revision ID: customers_0004
Revises: customers_0003
Create Date: 2026-11-24 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "customers_0004"
down_revision = "customers_0003"
branch_labels = None
depends_on = None

# Case-insensitive filters (`lower(col) = lower(:value)`), each with the list's order.
CASELESS_FILTER_INDEXES = {
    "ix_customers_lower_city_created_at_id_status": "address_city",
    "ix_customers_lower_region_created_at_id_status": "address_region",
    "ix_customers_lower_postal_code_created_at_id_status": "address_postal_code",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        _create_indexes()
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # CREATE INDEX CONCURRENTLY: writes to a live table go on while each index is built (a
    # plain CREATE INDEX blocks them, about a minute at a million customers). It cannot run in
    # a transaction: Alembic commits what came before and runs this block in autocommit.
    with op.get_context().autocommit_block():
        for name in [*PLAIN_INDEXES, "ix_customers_search_text_trgm", *CASELESS_FILTER_INDEXES]:
            _drop_if_invalid(name)
        _create_indexes(postgresql_concurrently=True)
        op.execute(
            "CREATE INDEX CONCURRENTLY ix_customers_search_text_trgm ON customers "
            "USING gin (search_text gin_trgm_ops)"
        )
        for name, column in CASELESS_FILTER_INDEXES.items():
            op.execute(
                f"CREATE INDEX CONCURRENTLY {name} "
                f"ON customers (lower({column}), created_at, id, status)"
            )
    # A page is 50 rows: starting parallel workers costs more than it saves (see above).
    op.execute("ALTER TABLE customers SET (parallel_workers = 0)")


PLAIN_INDEXES = (
    "ix_customers_sort_name_id",
    "ix_customers_country_created_at_id_status",
    "ix_customers_suppliers_created_at_id",
)


def _create_indexes(**options: bool) -> None:
    """The indexes both backends have (`options`: postgresql_concurrently on PostgreSQL)."""
    op.create_index("ix_customers_sort_name_id", "customers", ["sort_name", "id"], **options)
    op.create_index(
        "ix_customers_country_created_at_id_status",
        "customers",
        ["address_country", "created_at", "id", "status"],
        **options,
    )
    # Suppliers are few: a partial index lists them in order without scanning everyone.
    op.create_index(
        "ix_customers_suppliers_created_at_id",
        "customers",
        ["created_at", "id"],
        postgresql_where=sa.text("is_supplier"),
        sqlite_where=sa.text("is_supplier"),
        **options,
    )


def _drop_if_invalid(name: str) -> None:
    """A CONCURRENTLY build that failed (a run interrupted, say) leaves an invalid index behind:
    drop it, so that running the migration again builds it."""
    op.execute(
        f"""DO $$ BEGIN
            IF EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                       WHERE c.relname = '{name}' AND NOT i.indisvalid) THEN
                EXECUTE 'DROP INDEX {name}';
            END IF;
        END $$"""
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE customers RESET (parallel_workers)")
        for name in CASELESS_FILTER_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        op.execute("DROP INDEX IF EXISTS ix_customers_search_text_trgm")
        # pg_trgm stays: other objects of this database may use it, and it costs nothing idle.
    op.drop_index("ix_customers_suppliers_created_at_id", table_name="customers")
    op.drop_index("ix_customers_country_created_at_id_status", table_name="customers")
    op.drop_index("ix_customers_sort_name_id", table_name="customers")
