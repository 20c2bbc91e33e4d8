"""The worker's side of CSV imports: each queued import run in chunks by `shared.jobs`.

The first chunk of a job reads the file once to count its rows and gather its tag names, and
asks the tags service for those tags once (`POST /tags/ensure`); if the tags service is down,
the import fails at once with nothing written. Each following chunk takes the next rows
(`chunk_size`, streamed from the stored file), sorts them (`rows.sort_rows`: one validation,
`POST /customers`'s), writes the new customers set-based (`writing`), applies the rows of known
customers as `PATCH /customers/{id}` does when `on_duplicate=update`, and records the rejected
rows and the job's progress: all in the chunk's one transaction, so a worker that dies resumes
after the last committed chunk and never writes a row twice. A dry run writes no customer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

import marshmallow as ma
from sqlalchemy import delete, insert
from sqlalchemy.exc import OperationalError

from services.customers.fields.values import Definitions, custom_fields_from_cells, load_definitions
from services.customers.imports.checking import RowChecker, fewer_collections
from services.customers.imports.columns import unneutralised
from services.customers.imports.models import (
    ImportEmail,
    ImportFilePart,
    ImportJob,
    ImportRowError,
    ImportRowOutcome,
)
from services.customers.imports.parsing import CsvFile, Row
from services.customers.imports.rows import (
    Checked,
    Errors,
    Known,
    flat,
    known_customers,
    profile_errors,
    sort_rows,
)
from services.customers.imports.storage import stored_file
from services.customers.imports.writing import IMPORT, remember_emails, write_new_customers
from services.customers.profiles.errors import CustomerNotFound, DuplicateEmail, InvalidProfile
from services.customers.profiles.schemas import CustomerUpdateSchema
from services.customers.profiles.usecases import change_customer, locked_customer
from services.customers.tagging.projection import name_key, project_tag
from services.customers.tagging.tags_client import TagsCatalogue
from services.customers.tagging.usecases import change_tags
from shared.db import UnitOfWork, UnitOfWorkFactory
from shared.jobs import ChunkedJobs, progress_of, with_progress

log = logging.getLogger(__name__)

JOBS = ChunkedJobs(ImportJob, "import")
ENSURE_BATCH = 500
PROCESSES_ABOVE = 20_000
"""Rows left to import above which they are checked in processes of their own (when given)."""


def run_queued_imports(
    uow_factory: UnitOfWorkFactory,
    chunk_size: int,
    catalogue: Callable[[], TagsCatalogue],
    phone_region: str,
    processes: int = 0,
) -> int:
    """Run every queued (or abandoned) import, one after the other; how many ran. With
    `processes`, a file of more than `PROCESSES_ABOVE` rows is checked in that many processes."""
    with fewer_collections():
        return JOBS.run_queued(
            uow_factory,
            lambda _job_id: ImportStep(
                uow_factory, chunk_size, catalogue(), phone_region, processes
            ),
            _failed,
        )


@dataclass
class ImportStep:
    """One chunk of an import (a `shared.jobs.Step`); holds the file's reader between chunks."""

    uow_factory: UnitOfWorkFactory
    chunk_size: int
    catalogue: TagsCatalogue
    phone_region: str
    processes: int = 0
    _checker: RowChecker | None = None
    _rows: Iterator[tuple[Row, Checked]] | None = None
    _pending: list[tuple[Row, Checked]] = field(default_factory=list)

    def __call__(self, uow: UnitOfWork, job: ImportJob, now: datetime) -> bool:
        progress = progress_of(job)
        if not progress.get("prepared"):
            self._prepare(uow, job)
            return True
        done = int(progress.get("next_row", 0))
        # Rows taken by a chunk that did not commit (a transient error) are taken again.
        pending = [item for item in self._pending if item[0].number > done]
        if not pending:
            if self._rows is None:
                self._rows = self._checked_rows(job, done)
            pending = list(islice(self._rows, self.chunk_size))
        self._pending = pending
        if not pending:
            uow.session.execute(delete(ImportEmail).where(ImportEmail.import_id == job.id))
            uow.session.execute(delete(ImportFilePart).where(ImportFilePart.import_id == job.id))
            log.info(
                "import done",
                extra={
                    "import_id": str(job.id),
                    "accepted": job.accepted,
                    "rejected": job.rejected,
                },
            )
            return False
        import_chunk(uow, job, pending, self.phone_region, now)
        job.params = with_progress(job.params, next_row=pending[-1][0].number)
        return True

    def close(self) -> None:
        """Stop the processes checking rows, if any (`shared.jobs` calls it after the job)."""
        if self._checker is not None:
            self._checker.close()

    def _checked_rows(self, job: ImportJob, done: int) -> Iterator[tuple[Row, Checked]]:
        session_factory = self.uow_factory.session_factory
        csv_file = CsvFile(stored_file(session_factory, job.id), job.encoding)
        with session_factory() as session:
            definitions = load_definitions(session)
        rows = with_custom_fields(csv_file, definitions, done)
        processes = self.processes if (job.total or 0) - done > PROCESSES_ABOVE else 0
        self._checker = RowChecker(
            session_factory, self.phone_region, job.requested_by, processes, self.chunk_size
        )
        return self._checker.checked(rows)

    def _prepare(self, uow: UnitOfWork, job: ImportJob) -> None:
        """Count the rows and get the file's tags (created when missing), once per import."""
        total, names = 0, dict[str, str]()
        csv_file = CsvFile(stored_file(self.uow_factory.session_factory, job.id), job.encoding)
        for row in csv_file.rows(bodies=False):
            total += 1
            for name in row.tags:
                names.setdefault(name_key(name), name)
        tags: dict[str, str] = {}
        if names and not job.dry_run:
            wanted = list(names.values())
            for start in range(0, len(wanted), ENSURE_BATCH):
                for tag in self.catalogue.ensure(wanted[start : start + ENSURE_BATCH]):
                    project_tag(uow.session, tag)
                    tags[name_key(tag["name"])] = str(tag["id"])
            # A name the tags service spelt otherwise (composed, cased) maps by what was asked.
            for key, name in names.items():
                tags.setdefault(key, tags.get(name_key(name), ""))
        job.total = total
        job.params = {
            **with_progress(job.params, prepared=True),
            "tags": tags,
            "header": list(csv_file.header.names),
        }


def with_custom_fields(csv_file: CsvFile, definitions: Definitions, done: int) -> Iterator[Row]:
    """The file's rows after `done`, each column headed by a custom field's key (whatever its
    case) read into the body's `custom_fields` as the fields package reads a cell; the schema
    of `POST /customers` then validates them with the rest."""
    keys = {key.casefold(): key for key in definitions}
    columns = {
        position: keys[name.strip().casefold()]
        for position, (name, target) in enumerate(
            zip(csv_file.header.names, csv_file.header.targets, strict=True)
        )
        if target is None and name.strip().casefold() in keys
    }
    for row in csv_file.rows():
        if row.number <= done:
            continue
        if columns and row.error is None:
            cells = {key: unneutralised(row.cells[position]) for position, key in columns.items()}
            if values := custom_fields_from_cells(definitions, cells):
                row.body["custom_fields"] = values
        yield row


def import_chunk(
    uow: UnitOfWork,
    job: ImportJob,
    rows: list[tuple[Row, Checked]],
    phone_region: str,
    now: datetime,
) -> None:
    """One chunk of checked rows, in the caller's transaction: customers, rejections, counters."""
    session = uow.session
    chunk = sort_rows(session, job, rows, job.params.get("tags") or {})
    rejected = list(chunk.rejected)
    if job.dry_run:
        written = {item.row.number for item in chunk.new}
    else:
        written = write_new_customers(uow, chunk.new, now)
    # A new customer whose email another request took meanwhile is known now: skipped.
    lost = [item for item in chunk.new if item.row.number not in written]
    taken = known_customers(session, [item.record.key or "" for item in lost])
    outcomes = [_outcome(job, item.row, "skipped", taken[item.record.key or ""]) for item in lost]
    for known in chunk.known:
        if job.on_duplicate != "update":
            outcomes.append(_outcome(job, known.row, "skipped", known.customer_id))
            continue
        applied = _update(uow, job, known, phone_region)
        if isinstance(applied, dict):
            rejected.append((known.row, applied))
        else:
            outcomes.append(_outcome(job, known.row, "updated", known.customer_id, applied))
    if outcomes:
        session.execute(insert(ImportRowOutcome), outcomes)
    remember_emails(session, job.id, chunk.emails)
    errors = [
        {
            "import_id": job.id,
            "row": row.number,
            "field": name,
            "message": message,
            "cells": row.cells,
        }
        for row, by_field in rejected
        for name, messages in by_field.items()
        for message in messages
    ]
    if errors:
        session.execute(insert(ImportRowError), errors)
    job.accepted += len(written)
    job.skipped += sum(outcome["outcome"] == "skipped" for outcome in outcomes)
    job.updated += sum(outcome["outcome"] == "updated" for outcome in outcomes)
    job.rejected += len(rejected)
    job.processed += len(rows)


def _outcome(
    job: ImportJob, row: Row, outcome: str, customer_id: uuid.UUID, changed: list[str] | None = None
) -> dict[str, Any]:
    return {
        "import_id": job.id,
        "row": row.number,
        "outcome": outcome,
        "customer_id": customer_id,
        "changed": changed,
    }


def _update(uow: UnitOfWork, job: ImportJob, known: Known, phone_region: str) -> Errors | list[str]:
    """Apply a row to the customer who has its email, as `PATCH /customers/{id}` does (its
    schema, `change_customer`, `customer.updated`), and add its tags; its errors, or the
    fields it changed (`tags` among them when it added one)."""
    body = dict(known.row.body)
    if not known.row.kind_given:
        body.pop("kind", None)  # guessed by the reader: the customer keeps theirs
    try:
        loaded = CustomerUpdateSchema().load(body)
    except ma.ValidationError as exc:
        return flat(exc.messages)
    session = uow.session
    savepoint = session.begin_nested()
    try:
        customer = locked_customer(session, known.customer_id)
        changed = change_customer(uow, customer, loaded, job.requested_by, phone_region)
        version = customer.version
        if known.tag_ids:
            tagged = change_tags(uow, customer.id, add=known.tag_ids, reason=IMPORT, field="tags")
            if tagged.version > version:
                changed = [*changed, "tags"]
    except CustomerNotFound:
        savepoint.rollback()
        return {"email": ["the customer with this email was deleted during the import"]}
    except (InvalidProfile, DuplicateEmail) as exc:
        if not savepoint.is_active and not session.in_transaction():
            # The chunk's transaction is gone (a concurrent write took the email): run the
            # chunk again, as after any transient database error.
            raise OperationalError("import row", {}, exc) from exc
        savepoint.rollback()
        return (
            profile_errors(exc) if isinstance(exc, InvalidProfile) else {"email": [exc.message()]}
        )
    if job.dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    return changed


def _failed(job: ImportJob, message: str) -> None:
    job.error = (
        f"{message} — stopped after {job.processed} rows; the rows accepted before are kept,"
        " the others are not imported"
    )


def claim_next_import(uow: UnitOfWork) -> tuple[uuid.UUID, str] | None:
    """Mark the oldest queued (or abandoned) import as ours and running; its id and our token."""
    return JOBS.claim_next(uow)
