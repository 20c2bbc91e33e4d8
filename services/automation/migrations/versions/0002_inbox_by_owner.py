"""The inbox keyed by (owner of the event's type, event id).

Revision ID: automation_0002
Revises: automation_0001
Create Date: 2026-11-29
"""

from shared.migrations import key_inbox_by_owner, unkey_inbox_by_owner

revision = "automation_0002"
down_revision = "automation_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    key_inbox_by_owner()


def downgrade() -> None:
    unkey_inbox_by_owner()
