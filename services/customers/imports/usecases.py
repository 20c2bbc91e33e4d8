"""CSV imports (C9): the upload stored as a queued job, then run by the worker in chunks.

The request stores the file in 1 MB parts (memory stays flat) after checking that it is a CSV
with a known header, and answers 202. The worker claims the job (`FOR UPDATE SKIP LOCKED`, as
bulk jobs do), reads the file once to count its rows and gather its tag names, asks the tags
service for those tags once (`POST /tags/ensure`), then walks the rows in chunks. Each chunk is
one transaction: its customers, their tags, their events, its rejected rows and the job's
progress (the last row done) commit together, so a worker that dies resumes after the last
committed chunk and never writes a row twice. Each row goes through `insert_customer`, the very
code of `POST /customers` after the same schema, in a savepoint: a refused row leaves nothing.
A dry run does the same and rolls every row back.
"""

from __future__ import annotations

import functools
import io
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from itertools import islice
from typing import IO, Any

import marshmallow as ma
from sqlalchemy import delete, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.customers.imports.models import ImportEmail, ImportFilePart, ImportJob, ImportRowError
from services.customers.imports.parsing import CsvFile, EncodingDetector, NotCsv, Row
from services.customers.models import Customer
from services.customers.profiles import validation
from services.customers.profiles.errors import DuplicateEmail, InvalidProfile
from services.customers.profiles.schemas import CustomerCreateSchema
from services.customers.profiles.usecases import insert_customer
from services.customers.tagging.projection import name_key, project_tag
from services.customers.tagging.tags_client import TagsCatalogue
from services.customers.tagging.usecases import change_tags
from shared.api import Refusal
from shared.db import UnitOfWork, UnitOfWorkFactory, utcnow
from shared.jobs import failure_message
from shared.logging import correlated, current_correlation_id

log = logging.getLogger(__name__)

PART_SIZE = 1024 * 1024
STALE_AFTER = timedelta(minutes=2)
ERRORS_SHOWN = 1000
ENSURE_BATCH = 500
CHUNK_ATTEMPTS = 3


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
    """An import, its progress and its first `ERRORS_SHOWN` errors; ImportNotFound."""
    with session_factory() as session:
        job = session.get(ImportJob, import_id)
        if job is None:
            raise ImportNotFound(import_id)
        errors = session.scalars(
            select(ImportRowError)
            .where(ImportRowError.import_id == import_id)
            .order_by(ImportRowError.row, ImportRowError.id)
            .limit(ERRORS_SHOWN)
        ).all()
        return {**_job_fields(job), "errors": errors}


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


# --- the worker ---------------------------------------------------------------------------------
def run_queued_imports(
    uow_factory: UnitOfWorkFactory,
    chunk_size: int,
    catalogue: Callable[[], TagsCatalogue],
    phone_region: str,
) -> int:
    """Run every queued (or abandoned) import, one after the other; how many ran."""
    ran = 0
    while (claimed := claim_next_import(uow_factory())) is not None:
        run_import(uow_factory, claimed[0], claimed[1], chunk_size, catalogue(), phone_region)
        ran += 1
    return ran


def claim_next_import(uow: UnitOfWork) -> tuple[uuid.UUID, str] | None:
    """Mark the oldest queued (or abandoned) import as ours and running; its id and our token."""
    with uow:
        candidates = uow.session.scalars(
            select(ImportJob)
            .where(ImportJob.status.in_(("queued", "running")))
            .order_by(ImportJob.created_at, ImportJob.id)
            .limit(20)
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


def run_import(
    uow_factory: UnitOfWorkFactory,
    import_id: uuid.UUID,
    runner: str,
    chunk_size: int,
    catalogue: TagsCatalogue,
    phone_region: str,
) -> None:
    """Run a claimed import chunk by chunk until done; a failure is recorded in the job."""
    with uow_factory() as uow:
        job = uow.session.get(ImportJob, import_id)
        assert job is not None
        correlation = job.correlation_id
    with correlated(correlation, "customers"):
        try:
            _prepare(uow_factory, import_id, runner, catalogue)
            with uow_factory() as uow:
                job = uow.session.get(ImportJob, import_id)
                assert job is not None
                done = int((job.params.get("progress") or {}).get("next_row", 0))
                encoding = job.encoding
            session_factory = uow_factory.session_factory
            rows = (
                row
                for row in CsvFile(_file(session_factory, import_id), encoding).rows()
                if row.number > done
            )
            while True:
                chunk = list(islice(rows, chunk_size))
                if not _retrying(
                    functools.partial(
                        _run_chunk, uow_factory, import_id, runner, chunk, phone_region
                    )
                ):
                    return
                if not chunk:
                    return
        except Exception as exc:  # noqa: BLE001  (recorded in the job, for the person who asked)
            error_id = uuid.uuid4().hex
            log.exception(
                "import failed", extra={"import_id": str(import_id), "error_id": error_id}
            )
            _record_failure(uow_factory(), import_id, runner, exc, error_id)


def _retrying(action: Callable[[], bool]) -> bool:
    for attempt in range(1, CHUNK_ATTEMPTS + 1):
        try:
            return action()
        except OperationalError:
            if attempt == CHUNK_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _prepare(
    uow_factory: UnitOfWorkFactory,
    import_id: uuid.UUID,
    runner: str,
    catalogue: TagsCatalogue,
) -> None:
    """Count the rows and get the file's tags (created when missing), once per import."""
    with uow_factory() as uow:
        job = _locked_job(uow.session, import_id)
        if (job.params.get("progress") or {}).get("prepared"):
            return
        total, names = 0, dict[str, str]()
        csv_file = CsvFile(_file(uow_factory.session_factory, import_id), job.encoding)
        for row in csv_file.rows():
            total += 1
            for name in row.tags:
                names.setdefault(name_key(name), name)
        tags: dict[str, str] = {}
        if names and not job.dry_run:
            wanted = list(names.values())
            for start in range(0, len(wanted), ENSURE_BATCH):
                for tag in catalogue.ensure(wanted[start : start + ENSURE_BATCH]):
                    project_tag(uow.session, tag)
                    tags[name_key(tag["name"])] = str(tag["id"])
            # A name the tags service spelt otherwise (composed, cased) maps by what was asked.
            for key, name in names.items():
                tags.setdefault(key, tags.get(name_key(name), ""))
        job.total = total
        job.params = {
            **_with_progress(job.params, prepared=True),
            "tags": tags,
            "header": list(csv_file.header.names),
        }
        uow.commit()


def _run_chunk(
    uow_factory: Callable[[], UnitOfWork],
    import_id: uuid.UUID,
    runner: str,
    rows: list[Row],
    phone_region: str,
) -> bool:
    """One chunk of rows in one transaction; False when the import is over (or not ours)."""
    with uow_factory() as uow:
        session = uow.session
        job = _locked_job(session, import_id)
        progress = job.params.get("progress") or {}
        if job.status != "running" or progress.get("runner") != runner:
            return False
        now = utcnow()
        if not rows:
            session.execute(delete(ImportEmail).where(ImportEmail.import_id == job.id))
            session.execute(delete(ImportFilePart).where(ImportFilePart.import_id == job.id))
            job.status, job.finished_at = "done", now
            uow.commit()
            return False
        tags = job.params.get("tags") or {}
        for row in rows:
            outcome = _import_row(uow, job, row, tags, phone_region)
            if outcome == "accepted":
                job.accepted += 1
            elif outcome == "skipped":
                job.skipped += 1
            else:
                job.rejected += 1
            job.processed += 1
        job.params = _with_progress(
            job.params, next_row=rows[-1].number, heartbeat_at=now.isoformat()
        )
        uow.commit()
        return True


def _import_row(
    uow: UnitOfWork, job: ImportJob, row: Row, tags: dict[str, str], phone_region: str
) -> str:
    """One row: accepted, skipped (its email is a customer's already) or rejected (recorded)."""
    session = uow.session
    if row.error is not None:
        _reject(session, job, row, {None: [row.error]})
        return "rejected"
    try:
        body = CustomerCreateSchema().load(row.body)
    except ma.ValidationError as exc:
        _reject(session, job, row, _flat(exc.messages))
        return "rejected"
    key = validation.email_key(body.get("email"))
    if key is not None:
        first = session.scalar(
            select(ImportEmail.row).where(
                ImportEmail.import_id == job.id, ImportEmail.email_key == key
            )
        )
        if first is not None:
            _reject(session, job, row, {"email": [f"{body['email']} is already on row {first}"]})
            return "rejected"
        taken = session.scalar(select(Customer.id).where(Customer.email_key == key))
        if taken is not None and job.on_duplicate == "skip":
            session.add(ImportEmail(import_id=job.id, email_key=key, row=row.number))
            return "skipped"
    savepoint = session.begin_nested()
    try:
        customer = insert_customer(uow, body, job.requested_by, phone_region)
        tag_ids = [uuid.UUID(tags[name_key(name)]) for name in row.tags if tags.get(name_key(name))]
        if tag_ids:
            change_tags(uow, customer.id, add=tag_ids, reason="import", field="tags")
    except (InvalidProfile, DuplicateEmail) as exc:
        if not savepoint.is_active and not session.in_transaction():
            raise OperationalError("import row", {}, exc) from exc  # the whole chunk again
        savepoint.rollback()
        messages = exc.field_errors() or {}
        _reject(session, job, row, _flat(messages.get("json", {})) or {None: [exc.message()]})
        return "rejected"
    if job.dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    if key is not None:
        session.add(ImportEmail(import_id=job.id, email_key=key, row=row.number))
    return "accepted"


def _reject(
    session: Session, job: ImportJob, row: Row, errors: dict[str | None, list[str]]
) -> None:
    for field, messages in errors.items():
        for message in messages:
            session.add(
                ImportRowError(
                    import_id=job.id, row=row.number, field=field, message=message, cells=row.cells
                )
            )


def _flat(messages: Any, prefix: str = "") -> dict[str | None, list[str]]:
    """marshmallow's nested messages as `{"address.country": [...], "phones.0.number": [...]}`."""
    flat: dict[str | None, list[str]] = {}
    if isinstance(messages, dict):
        for name, value in messages.items():
            flat.update(_flat(value, f"{prefix}{name}."))
    elif isinstance(messages, list) and all(isinstance(item, str) for item in messages):
        flat[prefix.rstrip(".") or None] = list(messages)
    elif isinstance(messages, list):
        for item in messages:
            flat.update(_flat(item, prefix))
    else:
        flat[prefix.rstrip(".") or None] = [str(messages)]
    return flat


def _record_failure(
    uow: UnitOfWork, import_id: uuid.UUID, runner: str, exc: Exception, error_id: str
) -> None:
    with uow:
        job = _locked_job(uow.session, import_id)
        if (job.params.get("progress") or {}).get("runner") != runner:
            return
        job.status, job.finished_at = "failed", utcnow()
        job.error = (
            f"{failure_message(exc, error_id)} — stopped after {job.processed} rows; the rows"
            " accepted before are kept, the others are not imported"
        )
        uow.commit()


def _locked_job(session: Session, import_id: uuid.UUID) -> ImportJob:
    return session.scalars(
        select(ImportJob)
        .where(ImportJob.id == import_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _claimable(job: ImportJob, now: datetime) -> bool:
    if job.status == "queued":
        return True
    heartbeat = (job.params.get("progress") or {}).get("heartbeat_at")
    return heartbeat is None or datetime.fromisoformat(heartbeat) < now - STALE_AFTER


def _with_progress(params: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**params, "progress": {**(params.get("progress") or {}), **changes}}


def _file(session_factory: sessionmaker[Session], import_id: uuid.UUID) -> io.BufferedReader:
    return io.BufferedReader(_FileStream(session_factory, import_id), PART_SIZE)


class _FileStream(io.RawIOBase):
    """An uploaded file read back part by part from the database (one part in memory)."""

    def __init__(self, session_factory: sessionmaker[Session], import_id: uuid.UUID) -> None:
        self._session_factory = session_factory
        self._import_id = import_id
        self._seq = 0
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._buffer:
            with self._session_factory() as session:
                part = session.scalar(
                    select(ImportFilePart.data).where(
                        ImportFilePart.import_id == self._import_id,
                        ImportFilePart.seq == self._seq,
                    )
                )
            if part is None:
                return 0
            self._buffer, self._seq = bytes(part), self._seq + 1
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
