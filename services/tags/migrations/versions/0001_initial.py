"""The tags service's first tables: outbox and inbox.

Revision ID: tags_0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

from shared.migrations import create_messaging_tables

revision = "tags_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_messaging_tables()


def downgrade() -> None:
    op.drop_table("inbox")
    op.drop_table("outbox")
