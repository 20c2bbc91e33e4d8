"""Bulk jobs: the bulk actions too large for a request, run by the worker in chunks.

A worker claims a queued job with `FOR UPDATE SKIP LOCKED`, so that several workers never run
the same job. Its first chunk takes the ids of the customers its request selects (by ids, or
what its filter matches then) into `bulk_job_targets`: the job acts on those, walking them in id
order, and a customer who starts matching the filter later is not swept in. Each chunk is one
transaction: the customers' changes, their events and the job's progress (`processed`,
`changed`, and where to resume) commit together, so a job stopped at any point says exactly
what it did. A chunk failed by a transient database error is run again; a job that fails shows
its requester a generic message and an error id, the details being in the log under that id
(a refusal, such as a delete that now matches another number than confirmed, shows its own
words). A job whose worker died (no heartbeat for two minutes) is claimed again and resumes
after its last committed chunk. The claim, heartbeat, retry and resume loop is the one of every
chunked job (`shared.jobs.ChunkedJobs`); this module is what a chunk of a bulk job does.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, insert, literal, select
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import BulkJob, BulkJobTarget, Customer
from services.customers.tagging.bulk import (
    BulkRequest,
    apply_action,
    check_delete_confirmed,
    check_inputs,
    lock_next_customers,
    selected_customers,
)
from services.customers.tagging.errors import BulkJobNotFound
from services.customers.tagging.set_based import id_in
from shared.db import UnitOfWork, table_of
from shared.jobs import ChunkedJobs, progress_of, with_progress

log = logging.getLogger(__name__)

JOBS = ChunkedJobs(BulkJob, "bulk job")


def get_job(session_factory: sessionmaker[Session], job_id: uuid.UUID) -> BulkJob:
    """A bulk job and its progress; BulkJobNotFound."""
    with session_factory() as session:
        job = session.get(BulkJob, job_id)
    if job is None:
        raise BulkJobNotFound(job_id)
    return job


def run_queued_jobs(uow_factory: Callable[[], UnitOfWork], chunk_size: int) -> int:
    """Run every queued (or abandoned) job, one after the other; how many ran."""
    return JOBS.run_queued(
        uow_factory, lambda _job_id: functools.partial(_chunk, chunk_size=chunk_size), _failed
    )


def claim_next_job(uow: UnitOfWork) -> tuple[uuid.UUID, str] | None:
    """Mark the oldest queued (or abandoned) job as ours and running; its id and our token."""
    return JOBS.claim_next(uow)


def run_job(
    uow_factory: Callable[[], UnitOfWork], job_id: uuid.UUID, runner: str, chunk_size: int
) -> None:
    """Run a claimed job chunk by chunk until done; a failure is recorded in the job."""
    JOBS.run(uow_factory, job_id, runner, functools.partial(_chunk, chunk_size=chunk_size), _failed)


def run_chunk(uow: UnitOfWork, job_id: uuid.UUID, runner: str, chunk_size: int) -> bool:
    """One chunk of a claimed job, in one transaction; False when it is over (or no longer ours)."""
    return JOBS.run_chunk(uow, job_id, runner, functools.partial(_chunk, chunk_size=chunk_size))


def _chunk(uow: UnitOfWork, job: BulkJob, now: datetime, chunk_size: int) -> bool:
    session = uow.session
    progress = progress_of(job)
    request = BulkRequest.from_params(job.action, job.params)
    check_inputs(session, request)
    if not progress.get("targets_taken"):  # the first chunk takes them, in its transaction
        job.matched = _take_targets(session, job.id, request)
        if request.action == "delete":
            # The confirmed number, counted again now that the targets are fixed.
            check_delete_confirmed(request, job.matched)
        job.params = with_progress(job.params, targets_taken=True)
    after = uuid.UUID(progress["after"]) if progress.get("after") else None
    targets = _next_targets(session, job.id, after, chunk_size)
    if not targets:
        session.execute(delete(BulkJobTarget).where(BulkJobTarget.job_id == job.id))
        log.info(
            "bulk job done",
            extra={"job_id": str(job.id), "processed": job.processed, "changed": job.changed},
        )
        return False
    # The targets still there (a customer deleted since is skipped), locked in id order.
    ids = lock_next_customers(
        session,
        select(Customer.id).where(id_in(session, Customer.id, targets)),
        None,
        chunk_size,
    )
    job.changed += apply_action(uow, request, ids, now)
    job.processed += len(targets)
    job.params = with_progress(job.params, after=str(targets[-1]))
    return True


def _take_targets(session: Session, job_id: uuid.UUID, request: BulkRequest) -> int:
    """Write the ids of the customers the job's request selects now; how many."""
    selection = selected_customers(session, request).subquery()
    targets = table_of(BulkJobTarget)
    written = session.connection().execute(
        insert(targets).from_select(
            ["job_id", "customer_id"],
            # In id order: the primary key grows at its end instead of at random places.
            select(literal(job_id, BulkJobTarget.job_id.type), selection.c.id).order_by(
                selection.c.id
            ),
        ),
        execution_options={"preserve_rowcount": True},  # an INSERT's count is not kept otherwise
    )
    return int(written.rowcount)


def _next_targets(
    session: Session, job_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """The job's next `limit` target ids after `after`, in id order (one index range)."""
    statement = (
        select(BulkJobTarget.customer_id)
        .where(BulkJobTarget.job_id == job_id)
        .order_by(BulkJobTarget.customer_id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(BulkJobTarget.customer_id > after)
    return list(session.scalars(statement))


def _failed(job: BulkJob, message: str) -> None:
    job.error = (
        f"{message} — stopped after {job.processed} customers"
        f" processed ({job.changed} changed); those changes are kept and their events sent,"
        " the other customers are unchanged"
    )
