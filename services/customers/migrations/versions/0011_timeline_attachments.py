"""Files attached to custom timeline entries (C10); their bytes live in the attachment store.

Revision ID: customers_0011_attachments
Revises: customers_0010_imports
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "customers_0011_attachments"
down_revision = "customers_0010_imports"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timeline_attachments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["timeline_entries.id"],
            name=op.f("fk_timeline_attachments_entry_id_timeline_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_attachments")),
    )
    op.create_index(op.f("ix_timeline_attachments_entry_id"), "timeline_attachments", ["entry_id"])
    op.create_index(
        op.f("ix_timeline_attachments_customer_id"), "timeline_attachments", ["customer_id"]
    )


def downgrade() -> None:
    op.drop_table("timeline_attachments")
