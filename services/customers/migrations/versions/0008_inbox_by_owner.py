"""The inbox keyed by (owner of the event's type, event id).

Revision ID: customers_0008
Revises: customers_0007
Create Date: 2026-11-29
"""

from shared.migrations import key_inbox_by_owner, unkey_inbox_by_owner

revision = "customers_0008"
down_revision = "customers_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    key_inbox_by_owner()


def downgrade() -> None:
    unkey_inbox_by_owner()
