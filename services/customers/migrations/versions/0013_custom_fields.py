"""Custom fields (C13): their definitions, and the values on each customer, indexed for filters.

`customers.custom_fields` is a JSON object by key (JSONB on PostgreSQL, with a fast default: no
table rewrite at a million rows). A `cf.<key>=<value>` filter is `custom_fields @> {key: value}`,
which a GIN index with `jsonb_path_ops` answers (smaller and faster than the default `jsonb_ops`
for containment, the only operator the list uses). Built CONCURRENTLY, as migration 0004 does,
so that upgrading a live database does not block its writes.

Revision ID: customers_0013_custom_fields
Revises: customers_0012_summary
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.db import UtcDateTime

revision = "customers_0013_custom_fields"
down_revision = "customers_0012_summary"
branch_labels = None
depends_on = None

INDEX = "ix_customers_custom_fields"


def upgrade() -> None:
    op.create_table(
        "custom_field_definitions",
        sa.Column("key", sa.String(50), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_custom_field_definitions")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    document = postgresql.JSONB() if postgres else sa.JSON()
    with op.batch_alter_table("customers") as batch:
        batch.add_column(
            sa.Column("custom_fields", document, nullable=False, server_default=sa.text("'{}'"))
        )
    if postgres:
        with op.get_context().autocommit_block():
            # A build interrupted earlier leaves an invalid index: start again from nothing.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
            op.execute(
                f"CREATE INDEX CONCURRENTLY {INDEX} ON customers "
                "USING gin (custom_fields jsonb_path_ops)"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("custom_fields")
    op.drop_table("custom_field_definitions")
