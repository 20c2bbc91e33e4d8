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
words). A job whose worker died
(no progress for `STALE_AFTER`) is claimed again and resumes after its last committed chunk.
Bookkeeping that the table has no column for (resume point, runner, heartbeat) lives under
`params["progress"]`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, insert, literal, select
from sqlalchemy.exc import OperationalError
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
from shared.api import Refusal
from shared.db import UnitOfWork, table_of, utcnow
from shared.logging import correlated

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)
T = TypeVar("T")
CHUNK_ATTEMPTS = 3
CHUNK_RETRY_SECONDS = 0.5
CLAIM_CANDIDATES = 20


def get_job(session_factory: sessionmaker[Session], job_id: uuid.UUID) -> BulkJob:
    """A bulk job and its progress; BulkJobNotFound."""
    with session_factory() as session:
        job = session.get(BulkJob, job_id)
    if job is None:
        raise BulkJobNotFound(job_id)
    return job


def run_queued_jobs(uow_factory: Callable[[], UnitOfWork], chunk_size: int) -> int:
    """Run every queued (or abandoned) job, one after the other; how many ran."""
    ran = 0
    while (claimed := claim_next_job(uow_factory())) is not None:
        run_job(uow_factory, claimed[0], claimed[1], chunk_size)
        ran += 1
    return ran


def claim_next_job(uow: UnitOfWork) -> tuple[uuid.UUID, str] | None:
    """Mark the oldest queued (or abandoned) job as ours and running; its id and our token."""
    with uow:
        candidates = uow.session.scalars(
            select(BulkJob)
            .where(BulkJob.status.in_(("queued", "running")))
            .order_by(BulkJob.created_at, BulkJob.id)
            .limit(CLAIM_CANDIDATES)
            .with_for_update(skip_locked=True)
        ).all()
        now = utcnow()
        job = next((job for job in candidates if _claimable(job, now)), None)
        if job is None:
            return None
        runner = uuid.uuid4().hex
        job.status = "running"
        job.started_at = job.started_at or now
        job.params = _with_progress(job.params, runner=runner, heartbeat_at=now.isoformat())
        uow.commit()
        return job.id, runner


def run_job(
    uow_factory: Callable[[], UnitOfWork], job_id: uuid.UUID, runner: str, chunk_size: int
) -> None:
    """Run a claimed job chunk by chunk until done; a failure is recorded in the job."""

    def correlation_of_job() -> str | None:
        with uow_factory() as uow:
            job = uow.session.get(BulkJob, job_id)
            assert job is not None
            return job.correlation_id

    def next_chunk() -> bool:
        return run_chunk(uow_factory(), job_id, runner, chunk_size)

    with correlated(_retrying(correlation_of_job, job_id), "customers"):
        try:
            while _retrying(next_chunk, job_id):
                pass
        except Exception as exc:  # noqa: BLE001  (recorded in the job, for the person who asked)
            error_id = uuid.uuid4().hex
            log.exception("bulk job failed", extra={"job_id": str(job_id), "error_id": error_id})
            _record_failure(uow_factory(), job_id, runner, exc, error_id)


def _retrying(action: Callable[[], T], job_id: uuid.UUID) -> T:
    """`action` (one transaction), run again after a transient database error.

    Deadlocks and lost connections (a database restart) fail a transaction that changed
    nothing, so running it again is safe; after `CHUNK_ATTEMPTS` failures in a row the error
    stands, and the job records it.
    """
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        try:
            return action()
        except OperationalError:
            if attempt == CHUNK_ATTEMPTS:
                raise
            log.warning(
                "bulk job transaction failed on a transient database error; trying again",
                exc_info=True,
                extra={"job_id": str(job_id), "attempt": attempt},
            )
            time.sleep(CHUNK_RETRY_SECONDS * attempt)
    raise AssertionError("unreachable")


def run_chunk(uow: UnitOfWork, job_id: uuid.UUID, runner: str, chunk_size: int) -> bool:
    """One chunk of a claimed job, in one transaction; False when it is over (or no longer ours)."""
    with uow:
        session = uow.session
        job = _locked_job(session, job_id)
        progress = job.params.get("progress") or {}
        if job.status != "running" or progress.get("runner") != runner:
            return False
        request = BulkRequest.from_params(job.action, job.params)
        check_inputs(session, request)
        now = utcnow()
        if not progress.get("targets_taken"):  # the first chunk takes them, in its transaction
            job.matched = _take_targets(session, job.id, request)
            if request.action == "delete":
                # The confirmed number, counted again now that the targets are fixed.
                check_delete_confirmed(request, job.matched)
            job.params = _with_progress(job.params, targets_taken=True)
        after = uuid.UUID(progress["after"]) if progress.get("after") else None
        targets = _next_targets(session, job.id, after, chunk_size)
        if not targets:
            session.execute(delete(BulkJobTarget).where(BulkJobTarget.job_id == job.id))
            job.status = "done"
            job.finished_at = now
            uow.commit()
            log.info(
                "bulk job done",
                extra={"job_id": str(job_id), "processed": job.processed, "changed": job.changed},
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
        job.params = _with_progress(
            job.params, after=str(targets[-1]), heartbeat_at=now.isoformat()
        )
        uow.commit()
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


def failure_message(exc: Exception, error_id: str) -> str:
    """What a failed job tells its requester of the cause: a refusal's own words, else nothing
    of the exception (SQL, values, internals) but an id to find it in the log."""
    if isinstance(exc, Refusal):
        return exc.message()
    return f"the job failed on an internal error (error id {error_id}, in the service's log)"


def _record_failure(
    uow: UnitOfWork, job_id: uuid.UUID, runner: str, exc: Exception, error_id: str
) -> None:
    with uow:
        job = _locked_job(uow.session, job_id)
        if (job.params.get("progress") or {}).get("runner") != runner:
            return
        job.status = "failed"
        job.finished_at = utcnow()
        job.error = (
            f"{failure_message(exc, error_id)} — stopped after {job.processed} customers"
            f" processed ({job.changed} changed); those changes are kept and their events sent,"
            " the other customers are unchanged"
        )
        job.params = {**job.params, "error_id": error_id}
        uow.commit()


def _locked_job(session: Session, job_id: uuid.UUID) -> BulkJob:
    job = session.scalars(
        select(BulkJob)
        .where(BulkJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return job


def _claimable(job: BulkJob, now: datetime) -> bool:
    if job.status == "queued":
        return True
    heartbeat = (job.params.get("progress") or {}).get("heartbeat_at")
    return heartbeat is None or datetime.fromisoformat(heartbeat) < now - STALE_AFTER


def _with_progress(params: dict[str, Any], **changes: Any) -> dict[str, Any]:
    # A new dict: the JSON column only notices assignment, not changes inside it.
    return {**params, "progress": {**(params.get("progress") or {}), **changes}}
