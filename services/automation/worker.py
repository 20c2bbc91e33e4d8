"""The automation service's worker process: consumer, outbox relay, scheduled jobs."""

from __future__ import annotations

import functools
from datetime import timedelta

from services.automation.directory import RemoteDirectory
from services.automation.handlers import subscriptions
from services.automation.sweep import run_sweep
from shared.db import UnitOfWorkFactory, make_engine, make_session_factory
from shared.settings import Settings
from shared.worker import ScheduledJob, Worker

SWEEP_INTERVAL = timedelta(minutes=15)
"""How often the daily rules are looked at; each fires once per customer per day."""


def build_worker(settings: Settings) -> Worker:
    """The worker of the automation service, not yet started."""
    session_factory = make_session_factory(make_engine(settings.database_url))
    uow_factory = UnitOfWorkFactory(session_factory, settings.service)
    sweep = ScheduledJob("daily-rules", SWEEP_INTERVAL, functools.partial(run_sweep, uow_factory))
    return Worker(settings, session_factory, subscriptions(RemoteDirectory(settings)), jobs=[sweep])
