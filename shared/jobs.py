"""Jobs a worker runs in chunks (bulk actions, CSV imports): one claim, heartbeat and resume loop.

A job is a row with `id`, `status` (queued, running, done, failed), `params` (JSON; the runner's
bookkeeping lives under `params["progress"]`), `started_at`, `finished_at`, `error`,
`correlation_id` and `created_at`. A worker claims the oldest queued job with
`FOR UPDATE SKIP LOCKED`, so that several workers never run the same one, and marks it with a
token of its own (`runner`). Each chunk is one transaction: the job's row is locked, the chunk's
work (the caller's `Step`) and the job's progress and heartbeat commit together, so a job
stopped at any point says exactly what it did. A chunk failed by a transient database error
(deadlock, lost connection) is run again; a job whose worker died (no heartbeat for
`stale_after`) is claimed again by another and resumes after its last committed chunk, while
the dead worker's token no longer matches and it can commit nothing more. A failed job records
a generic message and an error id (the details are in the log under that id), or a refusal's
own words.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from shared.api import Refusal
from shared.db import UnitOfWork, utcnow
from shared.logging import correlated

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobRow(Protocol):
    """The columns the runner reads and writes on a job's row."""

    id: uuid.UUID
    status: str
    params: dict[str, Any]
    error: str | None
    correlation_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


J = TypeVar("J", bound=JobRow)

Step = Callable[[UnitOfWork, J, datetime], bool]
"""One chunk of a job, in the runner's transaction with the job's row locked: True while there
is more to do; False when it is over (the runner marks the job done in the same transaction)."""

OnFailure = Callable[[J, str], None]
"""Writes what a failed job tells its requester (`error`), given the cause's message."""


def failure_message(exc: Exception, error_id: str) -> str:
    """What a failed job tells its requester of the cause: a refusal's own words, else nothing
    of the exception (SQL, values, internals) but an id to find it in the log."""
    if isinstance(exc, Refusal):
        return exc.message()
    return f"the job failed on an internal error (error id {error_id}, in the service's log)"


def with_progress(params: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`params` with `progress` updated; a new dict (a JSON column only notices assignment)."""
    return {**params, "progress": {**(params.get("progress") or {}), **changes}}


def progress_of(job: JobRow) -> dict[str, Any]:
    """The runner's bookkeeping of a job (resume point, runner, heartbeat, ...)."""
    return dict(job.params.get("progress") or {})


@dataclass(frozen=True)
class ChunkedJobs(Generic[J]):
    """The runner of one kind of job (`model`); `label` names it in the log."""

    model: type[J]
    label: str
    stale_after: timedelta = timedelta(minutes=2)
    attempts: int = 3
    retry_seconds: float = 0.5
    candidates: int = 20

    def run_queued(
        self,
        uow_factory: Callable[[], UnitOfWork],
        step_of: Callable[[uuid.UUID], Step[J]],
        on_failure: OnFailure[J],
    ) -> int:
        """Run every queued (or abandoned) job, one after the other; how many ran. A step with
        a `close` method (what it holds between chunks: a file, processes) is closed after its
        job, however the job ended."""
        ran = 0
        while (claimed := self.claim_next(uow_factory())) is not None:
            step = step_of(claimed[0])
            try:
                self.run(uow_factory, claimed[0], claimed[1], step, on_failure)
            finally:
                if callable(close := getattr(step, "close", None)):
                    close()
            ran += 1
        return ran

    def claim_next(self, uow: UnitOfWork) -> tuple[uuid.UUID, str] | None:
        """Mark the oldest queued (or abandoned) job as ours and running; its id and our token."""
        model: Any = self.model
        with uow:
            candidates = uow.session.scalars(
                select(model)
                .where(model.status.in_(("queued", "running")))
                .order_by(model.created_at, model.id)
                .limit(self.candidates)
                .with_for_update(skip_locked=True)
            ).all()
            now = utcnow()
            job = next((job for job in candidates if self._claimable(job, now)), None)
            if job is None:
                return None
            runner = uuid.uuid4().hex
            job.status = "running"
            job.started_at = job.started_at or now
            job.params = with_progress(job.params, runner=runner, heartbeat_at=now.isoformat())
            uow.commit()
            return job.id, runner

    def run(
        self,
        uow_factory: Callable[[], UnitOfWork],
        job_id: uuid.UUID,
        runner: str,
        step: Step[J],
        on_failure: OnFailure[J],
    ) -> None:
        """Run a claimed job chunk by chunk until done; a failure is recorded in the job."""

        def correlation_of_job() -> tuple[str | None, str]:
            with uow_factory() as uow:
                job = uow.session.get(self.model, job_id)
                assert job is not None
                return job.correlation_id, uow.source

        with correlated(*self._retrying(correlation_of_job, job_id)):
            try:
                while self._retrying(
                    lambda: self.run_chunk(uow_factory(), job_id, runner, step), job_id
                ):
                    pass
            except Exception as exc:  # noqa: BLE001  (recorded in the job, for its requester)
                error_id = uuid.uuid4().hex
                log.exception(
                    f"{self.label} failed", extra={"job_id": str(job_id), "error_id": error_id}
                )
                self._record_failure(uow_factory(), job_id, runner, exc, error_id, on_failure)

    def run_chunk(self, uow: UnitOfWork, job_id: uuid.UUID, runner: str, step: Step[J]) -> bool:
        """One chunk of a claimed job, in one transaction; False when it is over (or no longer
        ours: another worker took it over, or it ended)."""
        with uow:
            job = self.locked(uow.session, job_id)
            if job.status != "running" or progress_of(job).get("runner") != runner:
                return False
            now = utcnow()
            more = step(uow, job, now)
            if more:
                job.params = with_progress(job.params, heartbeat_at=now.isoformat())
            else:
                job.status, job.finished_at = "done", now
            uow.commit()
            return more

    def locked(self, session: Session, job_id: uuid.UUID) -> J:
        """The job's row, locked until the end of the transaction, as the database has it."""
        model: Any = self.model
        job: J = session.scalars(
            select(model)
            .where(model.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        return job

    def _retrying(self, action: Callable[[], T], job_id: uuid.UUID) -> T:
        """`action` (one transaction), run again after a transient database error.

        Deadlocks and lost connections (a database restart) fail a transaction that changed
        nothing, so running it again is safe; after `attempts` failures in a row the error
        stands, and the job records it.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except OperationalError:
                if attempt == self.attempts:
                    raise
                log.warning(
                    f"{self.label} transaction failed on a transient database error; trying again",
                    exc_info=True,
                    extra={"job_id": str(job_id), "attempt": attempt},
                )
                time.sleep(self.retry_seconds * attempt)
        raise AssertionError("unreachable")

    def _record_failure(
        self,
        uow: UnitOfWork,
        job_id: uuid.UUID,
        runner: str,
        exc: Exception,
        error_id: str,
        on_failure: OnFailure[J],
    ) -> None:
        with uow:
            job = self.locked(uow.session, job_id)
            if progress_of(job).get("runner") != runner:
                return
            job.status, job.finished_at = "failed", utcnow()
            job.params = {**job.params, "error_id": error_id}
            on_failure(job, failure_message(exc, error_id))
            uow.commit()

    def _claimable(self, job: J, now: datetime) -> bool:
        if job.status == "queued":
            return True
        heartbeat = progress_of(job).get("heartbeat_at")
        return heartbeat is None or datetime.fromisoformat(heartbeat) < now - self.stale_after
