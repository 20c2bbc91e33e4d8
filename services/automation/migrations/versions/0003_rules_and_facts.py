"""Settings, rules (the built-in ones seeded), customers' facts, firings and the decisions log.

Revision ID: automation_0003
Revises: automation_0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from services.automation.defaults import seed_defaults
from shared.db import BigId, UtcDateTime

revision = "automation_0003"
down_revision = "automation_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "automation_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("inactivity_days", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_automation_settings"),
    )
    op.create_table(
        "rules",
        sa.Column("id", sa.String(100), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("trigger", sa.String(200), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rules"),
    )
    op.create_index("ix_rules_trigger", "rules", ["trigger"])
    op.create_table(
        "customer_facts",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("known", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(50)),
        sa.Column("status_at", UtcDateTime()),
        sa.Column("kind", sa.String(20)),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("since", UtcDateTime(), nullable=False),
        sa.Column("first_payment_at", UtcDateTime()),
        sa.Column("first_invoice_at", UtcDateTime()),
        sa.Column("first_appointment_at", UtcDateTime()),
        sa.Column("last_interaction_at", UtcDateTime()),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "payments_count",
                "invoices_count",
                "appointments_count",
                "purchases_count",
                "support_requests_count",
                "emails_clicked_count",
            )
        ),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_facts"),
    )
    op.create_index(
        "ix_customer_facts_status_last_interaction_at",
        "customer_facts",
        ["status", "last_interaction_at"],
    )
    op.create_table(
        "customer_fact_tags",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("tag_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "tag_id", name="pk_customer_fact_tags"),
    )
    op.create_table(
        "customer_revenue",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("amount", sa.Numeric(20, 4), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "currency", name="pk_customer_revenue"),
    )
    op.create_table(
        "known_tags",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_known_tags"),
    )
    op.create_table(
        "known_statuses",
        sa.Column("key", sa.String(50), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_known_statuses"),
    )
    op.create_table(
        "rule_firings",
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("fact_key", sa.String(300), nullable=False),
        sa.Column("fired_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("rule_id", "customer_id", "fact_key", name="pk_rule_firings"),
    )
    op.create_table(
        "action_requests",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("fact_key", sa.String(300), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_action_requests"),
    )
    op.create_index(
        "ix_action_requests_rule_id_customer_id_id",
        "action_requests",
        ["rule_id", "customer_id", "id"],
    )
    op.create_table(
        "decisions",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("trigger_event_id", sa.String(200)),
        sa.Column("trigger_type", sa.String(200), nullable=False),
        sa.Column("trigger_time", UtcDateTime(), nullable=False),
        sa.Column("fact_key", sa.String(300), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("fired", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("evaluated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_customer_id_id", "decisions", ["customer_id", "id"])
    session = Session(bind=op.get_bind())
    seed_defaults(session)
    session.flush()


def downgrade() -> None:
    for table in (
        "decisions",
        "action_requests",
        "rule_firings",
        "known_statuses",
        "known_tags",
        "customer_revenue",
        "customer_fact_tags",
        "customer_facts",
        "rules",
        "automation_settings",
    ):
        op.drop_table(table)
