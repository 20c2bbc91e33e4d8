"""The customers service's worker process: consumer, outbox relay, scheduled jobs."""

from __future__ import annotations

import functools
from datetime import timedelta

from services.customers.handlers import SUBSCRIPTIONS
from services.customers.imports.usecases import run_queued_imports
from services.customers.tagging.bulk_jobs import run_queued_jobs
from services.customers.tagging.tags_client import RemoteTagsCatalogue
from services.customers.timeline.attachments import AttachmentStore, sweep_orphans
from shared.db import UnitOfWorkFactory, make_engine, make_session_factory
from shared.settings import Settings
from shared.worker import ScheduledJob, Worker

BULK_JOBS_INTERVAL = timedelta(seconds=1)
IMPORTS_INTERVAL = timedelta(seconds=1)
IMPORT_CHUNK_ROWS = 1000
ATTACHMENT_SWEEP_INTERVAL = timedelta(minutes=10)


def build_worker(settings: Settings) -> Worker:
    """The worker of the customers service, not yet started."""
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
        ),
    )
    # The bytes of attachments whose entry or customer was deleted.
    attachments = ScheduledJob(
        "attachment-sweep",
        ATTACHMENT_SWEEP_INTERVAL,
        functools.partial(sweep_orphans, session_factory, AttachmentStore.of(settings)),
    )
    return Worker(settings, session_factory, SUBSCRIPTIONS, jobs=[bulk_jobs, imports, attachments])
