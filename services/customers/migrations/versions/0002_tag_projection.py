"""The local copy of the tag catalogue.

Revision ID: customers_0002
Revises: customers_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "customers_0002"
down_revision = "customers_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag_projection",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        sa.Column("order", sa.Integer()),
        sa.Column("is_fixed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tag_projection"),
    )


def downgrade() -> None:
    op.drop_table("tag_projection")
