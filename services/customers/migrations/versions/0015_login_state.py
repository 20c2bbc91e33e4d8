"""The customer's login state as registration publishes it (`account.updated`): the time of the
event it comes from, so that an older event never overwrites a newer state.

Revision ID: customers_0015_login_state
Revises: customers_0014_import_outcomes
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "customers_0015_login_state"
down_revision = "customers_0014_import_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "customers", sa.Column("login_state_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("customers", "login_state_at")
