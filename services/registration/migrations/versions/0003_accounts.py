"""Settings (audited), accounts, refresh tokens, devices, link tokens, throttling, auth audit.

Revision ID: registration_0003
Revises: registration_0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

from shared.db import BigId, UtcDateTime

revision = "registration_0003"
down_revision = "registration_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signup_notification", sa.Boolean(), nullable=False),
        sa.Column("admin_approval", sa.String(16), nullable=False),
        sa.Column("new_device_confirmation", sa.Boolean(), nullable=False),
        sa.Column("email_validation", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200)),
        sa.PrimaryKeyConstraint("id", name="pk_settings"),
    )
    op.create_table(
        "settings_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("old", sa.JSON(), nullable=False),
        sa.Column("new", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_settings_changes"),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("company_name", sa.String(200)),
        sa.Column("language", sa.String(16)),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("login_enabled", sa.Boolean(), nullable=False),
        sa.Column("email_confirmed", sa.Boolean(), nullable=False),
        sa.Column("password_hash", sa.String(300)),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("rejection_reason", sa.Text()),
        sa.Column("signup_device_id", sa.String(200)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("password_changed_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.UniqueConstraint("email_key", name="uq_accounts_email_key"),
    )
    op.create_index("ix_accounts_status_created_at_id", "accounts", ["status", "created_at", "id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(200)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("rotated_at", UtcDateTime()),
        sa.Column("revoked_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_refresh_tokens_account_id_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_refresh_tokens_account_id", "refresh_tokens", ["account_id"])
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_table(
        "devices",
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("device_id", sa.String(200), nullable=False),
        sa.Column("confirmed_at", UtcDateTime()),
        sa.Column("first_seen_at", UtcDateTime(), nullable=False),
        sa.Column("last_seen_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
        sa.Column("push_token", sa.String(4096)),
        sa.Column("push_platform", sa.String(16)),
        sa.Column("push_registered_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("account_id", "device_id", name="pk_devices"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_devices_account_id_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "link_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("device_id", sa.String(200)),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("token_hash", name="pk_link_tokens"),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_link_tokens_account_id_accounts",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_link_tokens_account_id", "link_tokens", ["account_id"])
    op.create_table(
        "throttle_hits",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("bucket", sa.String(32), nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_throttle_hits"),
    )
    op.create_index("ix_throttle_hits_bucket_key_at", "throttle_hits", ["bucket", "key", "at"])
    op.create_index("ix_throttle_hits_at", "throttle_hits", ["at"])
    op.create_table(
        "auth_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("account_id", sa.Uuid()),
        sa.Column("actor", sa.String(200)),
        sa.Column("ip", sa.String(64)),
        sa.Column("device_id", sa.String(200)),
        sa.Column("detail", sa.String(2000)),
        sa.PrimaryKeyConstraint("id", name="pk_auth_events"),
    )
    op.create_index("ix_auth_events_account_id_at", "auth_events", ["account_id", "at"])


def downgrade() -> None:
    for table in (
        "auth_events",
        "throttle_hits",
        "link_tokens",
        "devices",
        "refresh_tokens",
        "accounts",
        "settings_changes",
        "settings",
    ):
        op.drop_table(table)
