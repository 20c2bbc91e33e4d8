"""The tag catalogue, the memberships behind the usage counts, and the fixed tags.

Revision ID: tags_0002
Revises: tags_0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import sessionmaker

from services.tags.usecases import seed_fixed_tags
from shared.db import UnitOfWork, UtcDateTime

revision = "tags_0002"
down_revision = "tags_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("name_key", sa.String(192), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("color", sa.String(7), nullable=False),
        sa.Column("order", sa.Integer()),
        sa.Column("is_fixed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("customers_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
    )
    op.create_index("ix_tags_name_key", "tags", ["name_key"], unique=True)
    op.create_index("ix_tags_order_name_key", "tags", ["order", "name_key"])
    op.create_table(
        "tag_memberships",
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("is_member", sa.Boolean(), nullable=False),
        sa.Column("as_of", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tag_id", "customer_id", name="pk_tag_memberships"),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name="fk_tag_memberships_tag_id_tags", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_tag_memberships_customer_id", "tag_memberships", ["customer_id"])
    # The fixed tags, each with its tag.created in the outbox so that projections learn them.
    seed_fixed_tags(UnitOfWork(sessionmaker(bind=op.get_bind()), "tags"))


def downgrade() -> None:
    op.drop_table("tag_memberships")
    op.drop_table("tags")
