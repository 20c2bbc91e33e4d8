"""The customers service's worker process: consumer, outbox relay, scheduled jobs."""

from __future__ import annotations

from services.customers.handlers import SUBSCRIPTIONS
from shared.db import make_engine, make_session_factory
from shared.settings import Settings
from shared.worker import Worker


def build_worker(settings: Settings) -> Worker:
    """The worker of the customers service, not yet started."""
    session_factory = make_session_factory(make_engine(settings.database_url))
    return Worker(settings, session_factory, SUBSCRIPTIONS)
