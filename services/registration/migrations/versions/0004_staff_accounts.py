"""Accounts of customers created by staff: no email until customers has one.

Revision ID: registration_0004
Revises: registration_0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "registration_0004"
down_revision = "registration_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("email", existing_type=sa.String(320), nullable=True)
        batch.alter_column("email_key", existing_type=sa.String(320), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM accounts WHERE email IS NULL")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("email_key", existing_type=sa.String(320), nullable=False)
        batch.alter_column("email", existing_type=sa.String(320), nullable=False)
