"""Alembic environment of the tags service."""

from alembic import context

from services.tags.models import Base
from shared.db import MessagingBase
from shared.migrations import run_migrations

run_migrations(context, [Base.metadata, MessagingBase.metadata])
