"""The customers a bulk job acts on, taken once when it starts.

A job used to select its next chunk by running its filter again (`… AND id > :after ORDER BY id
LIMIT n`): each chunk read every customer the filter matched, and a 117,000-customer job spent
11 of its 23 seconds there. The job now writes the ids its filter matches once, and walks them.

Revision ID: customers_0007
Revises: customers_0006
Create Date: 2026-11-23 19:30:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "customers_0007"
down_revision = "customers_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bulk_job_targets",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["bulk_jobs.id"],
            name=op.f("fk_bulk_job_targets_job_id_bulk_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "customer_id", name=op.f("pk_bulk_job_targets")),
    )


def downgrade() -> None:
    op.drop_table("bulk_job_targets")
