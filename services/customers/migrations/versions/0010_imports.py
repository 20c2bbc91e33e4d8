"""CSV imports (C9): the job, its file in parts, its rejected rows, the emails it took.

Revision ID: customers_0010_imports
Revises: customers_0009_timeline
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "customers_0010_imports"
down_revision = "customers_0009_timeline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_imports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("on_duplicate", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(300), nullable=True),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("processed", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("correlation_id", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_imports")),
    )
    op.create_index(op.f("ix_customer_imports_status"), "customer_imports", ["status"])
    op.create_table(
        "customer_import_parts",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["customer_imports.id"],
            name=op.f("fk_customer_import_parts_import_id_customer_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "seq", name=op.f("pk_customer_import_parts")),
    )
    op.create_table(
        "customer_import_errors",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("cells", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["customer_imports.id"],
            name=op.f("fk_customer_import_errors_import_id_customer_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_import_errors")),
    )
    op.create_index(
        "ix_customer_import_errors_import_id_row", "customer_import_errors", ["import_id", "row"]
    )
    op.create_table(
        "customer_import_emails",
        sa.Column("import_id", sa.Uuid(), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("row", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["customer_imports.id"],
            name=op.f("fk_customer_import_emails_import_id_customer_imports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("import_id", "email_key", name=op.f("pk_customer_import_emails")),
    )


def downgrade() -> None:
    op.drop_table("customer_import_emails")
    op.drop_table("customer_import_errors")
    op.drop_table("customer_import_parts")
    op.drop_index(op.f("ix_customer_imports_status"), table_name="customer_imports")
    op.drop_table("customer_imports")
