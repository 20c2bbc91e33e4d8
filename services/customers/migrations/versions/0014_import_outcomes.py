"""CSV imports: what became of each row of a known customer's email (skipped, or updated with
the fields it changed), reported per row beside the rejected ones.

Revision ID: customers_0014_import_outcomes
Revises: customers_0013_custom_fields
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "customers_0014_import_outcomes"
down_revision = "customers_0013_custom_fields"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_import_outcomes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("changed", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["customer_imports.id"],
            name=op.f("fk_customer_import_outcomes_import_id_customer_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_import_outcomes")),
    )
    op.create_index(
        "ix_customer_import_outcomes_import_id_row",
        "customer_import_outcomes",
        ["import_id", "row"],
    )


def downgrade() -> None:
    op.drop_index("ix_customer_import_outcomes_import_id_row", "customer_import_outcomes")
    op.drop_table("customer_import_outcomes")
