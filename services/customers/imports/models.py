"""The tables of CSV imports: the job, the uploaded file in parts, rejected rows, the rows of
known customers (skipped or updated), emails seen.

They live on the customers service's `Base` (migrations `customers_0010_imports`, `0014`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from services.customers.models import Base
from shared.db import BigId, UtcDateTime, utcnow


class ImportJob(Base):
    """A CSV import, run by the worker in chunks (C9)."""

    __tablename__ = "customer_imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    on_duplicate: Mapped[str] = mapped_column(String(16), default="skip")
    filename: Mapped[str | None] = mapped_column(String(300))
    encoding: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(BigId)
    total: Mapped[int | None] = mapped_column(Integer)
    processed: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    # Bookkeeping: `progress` {runner, heartbeat_at, next_row, prepared}, `tags` {key: tag}.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class ImportFilePart(Base):
    """A piece of an uploaded file (1 MB), so that neither the upload nor the worker holds it."""

    __tablename__ = "customer_import_parts"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer_imports.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ImportRowError(Base):
    """Why a row was rejected (one line per field), with its cells for `errors.csv`."""

    __tablename__ = "customer_import_errors"
    __table_args__ = (Index("ix_customer_import_errors_import_id_row", "import_id", "row"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer_imports.id", ondelete="CASCADE")
    )
    row: Mapped[int] = mapped_column(Integer)
    field: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    cells: Mapped[list[str] | None] = mapped_column(JSON)


class ImportRowOutcome(Base):
    """What became of a row whose email a customer had already: `skipped`, or `updated` with the
    fields it changed (`on_duplicate=update`)."""

    __tablename__ = "customer_import_outcomes"
    __table_args__ = (Index("ix_customer_import_outcomes_import_id_row", "import_id", "row"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer_imports.id", ondelete="CASCADE")
    )
    row: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    changed: Mapped[list[str] | None] = mapped_column(JSON)


class ImportEmail(Base):
    """An email an import has taken (or, in a dry run, would take), with the row that had it:
    a second row with it is reported as a duplicate inside the file, even across chunks."""

    __tablename__ = "customer_import_emails"

    import_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customer_imports.id", ondelete="CASCADE"), primary_key=True
    )
    email_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    row: Mapped[int] = mapped_column(Integer)
