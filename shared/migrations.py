"""Alembic per service: create the database if missing, then upgrade to head, one at a time."""

from __future__ import annotations

import importlib
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command, op
from alembic.config import Config
from sqlalchemy.engine import make_url

from shared.db import BigId, UtcDateTime, make_engine
from shared.settings import Settings


def ensure_database(url: str) -> None:
    """Create the service's PostgreSQL database (or SQLite folder) when it does not exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return
    if parsed.get_backend_name() != "postgresql":
        return
    admin = make_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": parsed.database},
            )
            if not exists:
                try:
                    connection.execute(sa.text(f'CREATE DATABASE "{parsed.database}"'))
                except sa.exc.ProgrammingError as exc:  # created meanwhile by another process
                    if "already exists" not in str(exc):
                        raise
    finally:
        admin.dispose()


def alembic_config(settings: Settings) -> Config:
    """The Alembic configuration of a service (its own migrations folder)."""
    module = importlib.import_module(f"services.{settings.service}")
    folder = Path(module.__file__ or "").parent / "migrations"
    config = Config()
    config.set_main_option("script_location", str(folder))
    config.set_main_option("sqlalchemy.url", settings.database_url.replace("%", "%%"))
    return config


def migrate(settings: Settings, revision: str = "head") -> None:
    """Bring the service's database to `revision`; concurrent callers wait for each other."""
    ensure_database(settings.database_url)
    engine = make_engine(settings.database_url, poolclass=sa.pool.NullPool)
    config = alembic_config(settings)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                key = zlib.crc32(f"crm-migrate-{settings.service}".encode())
                connection.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": key})
                connection.commit()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def run_migrations(context: Any, target_metadata: Any) -> None:
    """The body of every service's `migrations/env.py`."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _run(context, connection, target_metadata)
            connection.commit()
        return
    _run(context, connection, target_metadata)


def for_this_database(dialect_name: str) -> Any:
    """An autogenerate `include_object` that skips what the models build on other backends only.

    A model's index limited with `.ddl_if(dialect="postgresql")` (a trigram index, say) exists
    only on PostgreSQL: on SQLite, autogenerate must not propose to add it.
    """

    def include_object(item: Any, _name: Any, _type: Any, _reflected: bool, _compare: Any) -> bool:
        condition = getattr(item, "_ddl_if", None)
        dialect = getattr(condition, "dialect", None)
        return dialect is None or dialect == dialect_name

    return include_object


def _run(context: Any, connection: Any, target_metadata: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_object=for_this_database(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


def create_messaging_tables() -> None:
    """The outbox and inbox tables, for each service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "inbox",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_inbox"),
    )
    op.create_index("ix_inbox_received_at", "inbox", ["received_at"])


def key_inbox_by_owner() -> None:
    """The inbox keyed by (owner of the event's type, event id), not the id alone.

    Rows already there get the owner of their type, so an event handled before the upgrade
    and delivered again after it still finds its row.
    """
    from shared.events.owners import inbox_source

    bind = op.get_bind()
    op.add_column("inbox", sa.Column("source", sa.String(100), nullable=True))
    inbox = sa.table("inbox", sa.column("type", sa.String), sa.column("source", sa.String))
    for (event_type,) in bind.execute(sa.select(inbox.c.type).distinct()).all():
        bind.execute(
            inbox.update().where(inbox.c.type == event_type).values(source=inbox_source(event_type))
        )
    with op.batch_alter_table("inbox", recreate="auto") as batch:
        batch.alter_column("source", existing_type=sa.String(100), nullable=False)
        batch.drop_constraint("pk_inbox", type_="primary")
        batch.create_primary_key("pk_inbox", ["source", "event_id"])


def unkey_inbox_by_owner() -> None:
    """Back to the inbox keyed by event id alone (rows of one id under two owners merge)."""
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "DELETE FROM inbox WHERE EXISTS (SELECT 1 FROM inbox AS other WHERE"
            " other.event_id = inbox.event_id AND other.source < inbox.source)"
        )
    )
    with op.batch_alter_table("inbox", recreate="auto") as batch:
        batch.drop_constraint("pk_inbox", type_="primary")
        batch.create_primary_key("pk_inbox", ["event_id"])
        batch.drop_column("source")
