"""Templates, settings, the customer projection and the delivery log.

Revision ID: notifications_0003
Revises: notifications_0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "notifications_0003"
down_revision = "notifications_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "templates",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", "language", name="pk_templates"),
    )
    op.create_table(
        "notification_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("default_language", sa.String(35), nullable=False),
        sa.Column("admin_emails", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_settings"),
    )
    op.create_table(
        "customer_contacts",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("language", sa.String(35)),
        sa.Column("first_name", sa.String(200)),
        sa.Column("last_name", sa.String(200)),
        sa.Column("company_name", sa.String(300)),
        sa.Column("email_consent", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("as_of", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_contacts"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("message_id", sa.String(500), nullable=False),
        sa.Column("customer_id", sa.Uuid()),
        sa.Column("to_admins", sa.Boolean(), nullable=False),
        sa.Column("needs_consent", sa.Boolean(), nullable=False),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("recipients", sa.JSON()),
        sa.Column("consent", sa.Boolean()),
        sa.Column("requested_language", sa.String(35)),
        sa.Column("locale", sa.String(35)),
        sa.Column("fallback", sa.String(20)),
        sa.Column("subject", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
    )
    op.create_index("ix_deliveries_message_id", "deliveries", ["message_id"], unique=True)
    op.create_index(
        "ix_deliveries_due",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_customer_id_created_at", "deliveries", ["customer_id", "created_at"]
    )
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at"])
    op.create_index("ix_deliveries_status_updated_at", "deliveries", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("customer_contacts")
    op.drop_table("notification_settings")
    op.drop_table("templates")
