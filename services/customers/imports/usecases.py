"""CSV imports (C9): the upload stored as a queued job, then run by the worker in chunks.

The request stores the file in 1 MB parts (memory stays flat) after checking that it is a CSV
with a known header, and answers 202; the worker runs it (`imports.runner`). Here: the upload,
and what the API reads of an import (its progress, its errors, its rejected rows as CSV).
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.customers.imports.models import (
    ImportFilePart,
    ImportJob,
    ImportRowError,
    ImportRowOutcome,
)
from services.customers.imports.parsing import CsvFile, EncodingDetector, NotCsv
from services.customers.imports.storage import PART_SIZE
from shared.api import Refusal
from shared.db import UnitOfWork, utcnow
from shared.logging import current_correlation_id

ERRORS_SHOWN = 1000


class ImportRefused(Refusal):
    """The upload is not a CSV of customers, or too large: 422 at once, nothing stored."""

    field = "file"
    location = "files"


class ImportNotFound(Refusal):
    status = 404

    def __init__(self, import_id: uuid.UUID) -> None:
        super().__init__(f"no import {import_id}")


# --- the request --------------------------------------------------------------------------------
def start_import(
    uow: UnitOfWork,
    stream: IO[bytes],
    max_bytes: int,
    actor: str,
    dry_run: bool,
    on_duplicate: str,
    filename: str | None = None,
) -> ImportJob:
    """Store the file as a queued import; ImportRefused when it is no CSV of customers."""
    detector = EncodingDetector()
    with uow:
        job = ImportJob(
            id=uuid.uuid4(),
            status="queued",
            dry_run=dry_run,
            on_duplicate=on_duplicate,
            filename=filename,
            encoding="utf-8",
            size=0,
            processed=0,
            accepted=0,
            rejected=0,
            skipped=0,
            updated=0,
            params={},
            requested_by=actor,
            correlation_id=current_correlation_id(),
            created_at=utcnow(),
        )
        uow.session.add(job)
        uow.session.flush()
        size, seq, head = 0, 0, b""
        while data := stream.read(PART_SIZE):
            size += len(data)
            if size > max_bytes:
                raise ImportRefused(f"the file is larger than the limit of {max_bytes} bytes")
            detector.feed(data)
            if len(head) < PART_SIZE:
                head += data[: PART_SIZE - len(head)]
            uow.session.add(ImportFilePart(import_id=job.id, seq=seq, data=data))
            uow.session.flush()
            uow.session.expunge_all()  # the parts are written: keep none of them in memory
            seq += 1
        job = uow.session.get(ImportJob, job.id)  # type: ignore[assignment]
        if detector.binary:
            raise ImportRefused("the file is not a CSV (it holds binary data)")
        encoding = detector.encoding()
        try:
            CsvFile(io.BytesIO(head), encoding)
        except (NotCsv, UnicodeDecodeError) as exc:
            raise ImportRefused(str(exc)) from None
        job.size, job.encoding = size, encoding
        uow.commit()
        return job


def get_import(session_factory: sessionmaker[Session], import_id: uuid.UUID) -> dict[str, Any]:
    """An import, its progress, its first `ERRORS_SHOWN` errors and rows of known customers;
    ImportNotFound."""
    with session_factory() as session:
        job = session.get(ImportJob, import_id)
        if job is None:
            raise ImportNotFound(import_id)
        return {
            **_job_fields(job),
            "errors": _first_rows(session, ImportRowError, import_id),
            "known_rows": _first_rows(session, ImportRowOutcome, import_id),
        }


def _first_rows(session: Session, model: Any, import_id: uuid.UUID) -> list[Any]:
    """The first `ERRORS_SHOWN` rows of an import's report (errors, known rows), in row order."""
    return list(
        session.scalars(
            select(model)
            .where(model.import_id == import_id)
            .order_by(model.row, model.id)
            .limit(ERRORS_SHOWN)
        )
    )


def list_imports(session_factory: sessionmaker[Session], limit: int) -> list[dict[str, Any]]:
    """The latest imports, newest first."""
    with session_factory() as session:
        jobs = session.scalars(
            select(ImportJob).order_by(ImportJob.created_at.desc()).limit(limit)
        ).all()
        return [_job_fields(job) for job in jobs]


_JOB_FIELDS = (
    *("id", "status", "dry_run", "on_duplicate", "filename", "total", "processed"),
    *("accepted", "rejected", "skipped", "updated", "error"),
    *("created_at", "started_at", "finished_at"),
)


def _job_fields(job: ImportJob) -> dict[str, Any]:
    names = _JOB_FIELDS
    return {name: getattr(job, name) for name in names}


def error_rows(
    session_factory: sessionmaker[Session], import_id: uuid.UUID
) -> tuple[list[str], Iterator[tuple[list[str], str]]]:
    """The header of the import's file and each rejected row (cells, reason); ImportNotFound."""
    with session_factory() as session:
        job = session.get(ImportJob, import_id)
        if job is None:
            raise ImportNotFound(import_id)
        header = list(job.params.get("header") or [])

    def rows() -> Iterator[tuple[list[str], str]]:
        with session_factory() as session:
            current: tuple[int, list[str]] | None = None
            reasons: list[str] = []
            statement = (
                select(ImportRowError)
                .where(ImportRowError.import_id == import_id)
                .order_by(ImportRowError.row, ImportRowError.id)
                .execution_options(yield_per=1000)
            )
            for error in session.scalars(statement):
                if current is not None and current[0] != error.row:
                    yield current[1], "; ".join(reasons)
                    current, reasons = None, []
                if current is None:
                    current = (error.row, list(error.cells or []))
                reasons.append(f"{error.field}: {error.message}" if error.field else error.message)
            if current is not None:
                yield current[1], "; ".join(reasons)

    return header, rows()
