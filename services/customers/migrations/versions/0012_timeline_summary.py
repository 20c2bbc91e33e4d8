"""The summary kept per batch of events (C11), push devices, and events parked for customers
not known yet (C10).

Revision ID: customers_0012_summary
Revises: customers_0011_attachments
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "customers_0012_summary"
down_revision = "customers_0011_attachments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_summaries",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("purchases_count", sa.Integer(), nullable=False),
        sa.Column("invoices_count", sa.Integer(), nullable=False),
        sa.Column("support_requests_count", sa.Integer(), nullable=False),
        sa.Column("last_action_at", UtcDateTime(), nullable=True),
        sa.Column("last_action_id", sa.Uuid(), nullable=True),
        sa.Column("last_action_type", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_summaries")),
    )
    op.create_index(
        op.f("ix_customer_summaries_last_action_at"), "customer_summaries", ["last_action_at"]
    )
    op.create_table(
        "customer_revenue",
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", sa.Numeric(precision=24, scale=4), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "currency", name=op.f("pk_customer_revenue")),
    )
    op.create_table(
        "customer_push_devices",
        sa.Column("device_id", sa.String(length=200), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("registered", sa.Boolean(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_customer_push_devices")),
    )
    op.create_index(
        op.f("ix_customer_push_devices_customer_id"), "customer_push_devices", ["customer_id"]
    )
    op.create_table(
        "timeline_parked_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("event_source", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("parked_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timeline_parked_events")),
        sa.UniqueConstraint(
            "event_source", "event_id", name=op.f("uq_timeline_parked_events_event_source_event_id")
        ),
    )
    op.create_index(
        op.f("ix_timeline_parked_events_customer_id"), "timeline_parked_events", ["customer_id"]
    )
    op.create_index(
        op.f("ix_timeline_parked_events_parked_at"), "timeline_parked_events", ["parked_at"]
    )
    # The summaries of the customers the timeline already holds.
    op.execute(
        """
        INSERT INTO customer_summaries (customer_id, purchases_count, invoices_count,
            support_requests_count, last_action_at, last_action_id, last_action_type)
        SELECT e.customer_id,
            SUM(CASE WHEN e.type = 'billing.purchase.completed' THEN 1 ELSE 0 END),
            SUM(CASE WHEN e.type = 'billing.invoice.issued' THEN 1 ELSE 0 END),
            SUM(CASE WHEN e.type = 'support.request.created' THEN 1 ELSE 0 END),
            NULL, NULL, NULL
        FROM timeline_entries e GROUP BY e.customer_id
        """
    )
    op.execute(
        """
        UPDATE customer_summaries SET
            last_action_at = (SELECT e.occurred_at FROM timeline_entries e
                WHERE e.customer_id = customer_summaries.customer_id
                ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1),
            last_action_id = (SELECT e.id FROM timeline_entries e
                WHERE e.customer_id = customer_summaries.customer_id
                ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1),
            last_action_type = (SELECT e.type FROM timeline_entries e
                WHERE e.customer_id = customer_summaries.customer_id
                ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1)
        """
    )
    op.execute(
        """
        INSERT INTO customer_revenue (customer_id, currency, amount)
        SELECT customer_id, currency, SUM(amount) FROM timeline_entries
        WHERE type = 'billing.purchase.completed' GROUP BY customer_id, currency
        """
    )


def downgrade() -> None:
    op.drop_table("timeline_parked_events")
    op.drop_table("customer_push_devices")
    op.drop_table("customer_revenue")
    op.drop_table("customer_summaries")
