"""The customers' timeline (C10): one entry per event, or per custom action.

Revision ID: customers_0009_timeline
Revises: customers_0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "customers_0009_timeline"
down_revision = "customers_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timeline_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("event_source", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_entries")),
        sa.UniqueConstraint(
            "event_source", "event_id", name=op.f("uq_timeline_entries_event_source_event_id")
        ),
    )
    op.create_index(
        "ix_timeline_entries_customer_id_occurred_at_id",
        "timeline_entries",
        ["customer_id", "occurred_at", "id"],
    )


def downgrade() -> None:
    op.drop_table("timeline_entries")
