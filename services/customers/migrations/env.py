"""Alembic environment of the customers service."""

from alembic import context

from services.customers.models import Base
from shared.db import MessagingBase
from shared.migrations import run_migrations

run_migrations(context, [Base.metadata, MessagingBase.metadata])
