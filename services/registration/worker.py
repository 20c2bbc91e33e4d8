"""The registration service's worker process: consumer, outbox relay, scheduled jobs."""

from __future__ import annotations

import functools

from services.registration import throttle
from services.registration.config import RegistrationConfig
from services.registration.handlers import SUBSCRIPTIONS
from shared.db import make_engine, make_session_factory
from shared.settings import Settings
from shared.worker import ScheduledJob, Worker


def build_worker(settings: Settings, config: RegistrationConfig | None = None) -> Worker:
    """The worker of the registration service, not yet started."""
    config = config or RegistrationConfig.from_env(settings)
    session_factory = make_session_factory(make_engine(settings.database_url))
    # Throttling hits past every window count nowhere: each worker purges them (SKIP LOCKED
    # batches, so several workers at once neither wait on nor deadlock with each other).
    purge = ScheduledJob(
        "throttle-purge",
        throttle.PURGE_INTERVAL,
        functools.partial(throttle.purge_expired, session_factory, config),
    )
    return Worker(settings, session_factory, SUBSCRIPTIONS, jobs=[purge])
