"""The customers service's worker process: consumer, outbox relay, scheduled jobs."""

from __future__ import annotations

import functools
import os
from datetime import timedelta

from services.customers.handlers import SUBSCRIPTIONS
from services.customers.imports.runner import run_queued_imports
from services.customers.tagging.bulk_jobs import run_queued_jobs
from services.customers.tagging.tags_client import RemoteTagsCatalogue
from services.customers.timeline.attachments import sweep_orphans
from services.customers.timeline.config import TimelineConfig
from services.customers.timeline.parking import settle_parked
from services.customers.timeline.stores import attachment_store
from shared.db import UnitOfWorkFactory, make_engine, make_session_factory
from shared.events.owners import broker_user
from shared.events.publisher import EventPublisher, make_connection
from shared.settings import Settings
from shared.worker import ScheduledJob, Worker

BULK_JOBS_INTERVAL = timedelta(seconds=1)
IMPORTS_INTERVAL = timedelta(seconds=1)
# Rows per transaction: large enough for set-based writes, small enough for steady progress.
IMPORT_CHUNK_ROWS = 10_000
# Processes checking the rows of a large import (validation is CPU-bound Python).
IMPORT_PROCESSES = min(4, os.cpu_count() or 1)
ATTACHMENT_SWEEP_INTERVAL = timedelta(minutes=10)
# How often parked events are settled: at most a tenth of the window, at least every minute.
PARKED_INTERVAL = timedelta(minutes=1)


def build_worker(settings: Settings, timeline: TimelineConfig | None = None) -> Worker:
    """The worker of the customers service, not yet started."""
    timeline = timeline or TimelineConfig.from_env()
    session_factory = make_session_factory(make_engine(settings.database_url))
    uow_factory = UnitOfWorkFactory(session_factory, settings.service)
    bulk_jobs = ScheduledJob(
        "bulk-jobs",
        BULK_JOBS_INTERVAL,
        # A chunk is what a request would do at once: one transaction of `bulk_sync_limit`.
        functools.partial(run_queued_jobs, uow_factory, settings.bulk_sync_limit),
    )
    imports = ScheduledJob(
        "imports",
        IMPORTS_INTERVAL,
        functools.partial(
            run_queued_imports,
            uow_factory,
            IMPORT_CHUNK_ROWS,
            functools.partial(RemoteTagsCatalogue, settings),
            settings.default_phone_region,
            IMPORT_PROCESSES,
        ),
    )
    # The bytes of attachments whose entry or customer was deleted.
    attachments = ScheduledJob(
        "attachment-sweep",
        ATTACHMENT_SWEEP_INTERVAL,
        functools.partial(sweep_orphans, session_factory, attachment_store(settings, timeline)),
    )
    # Events for customers not known yet: applied once the customer exists, else dead-lettered.
    parked = ScheduledJob(
        "parked-events",
        min(PARKED_INTERVAL, timeline.parking_window / 10),
        functools.partial(
            settle_parked,
            session_factory,
            EventPublisher(
                make_connection(settings.broker_url), identity=broker_user(settings.service)
            ),
            settings.service,
            timeline.parking_window,
        ),
    )
    return Worker(
        settings,
        session_factory,
        SUBSCRIPTIONS,
        jobs=[bulk_jobs, imports, attachments, parked],
    )
