"""The inbox keyed by (owner of the event's type, event id).

Revision ID: tags_0003
Revises: tags_0002
Create Date: 2026-11-29
"""

from shared.migrations import key_inbox_by_owner, unkey_inbox_by_owner

revision = "tags_0003"
down_revision = "tags_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    key_inbox_by_owner()


def downgrade() -> None:
    unkey_inbox_by_owner()
