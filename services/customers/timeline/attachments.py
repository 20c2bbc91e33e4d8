"""Files attached to custom timeline entries: checked by their content, kept in a store.

The bytes live in the attachment store (`timeline.stores`: a directory, or an S3-compatible
bucket when configured), named by the attachment's id, so that a merge, which moves entries,
moves no bytes; the rest is in `timeline_attachments`, deleted with its entry (and so with its
customer). The bytes are written before their row commits; those of a deleted row are removed
by `sweep_orphans`, which the worker runs, once older than the grace an upload in progress needs.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.customers.models import Customer, TimelineAttachment, TimelineEntry
from services.customers.profiles.errors import CustomerNotFound
from services.customers.timeline.entries import CUSTOM
from services.customers.timeline.errors import (
    AttachmentNotFound,
    AttachmentTooLarge,
    EntryNotFound,
    EventEntryIsFixed,
    UnsupportedAttachment,
)
from services.customers.timeline.stores import AttachmentNotStored, AttachmentStore
from shared.db import UnitOfWork, utcnow

MAX_BYTES = 10 * 1024 * 1024
MAX_PER_ENTRY = 20
# A file younger than this may belong to an upload whose row is not committed yet.
SWEEP_GRACE_SECONDS = 600.0
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
TEXT = "text/plain; charset=utf-8"
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f-\x9f/\\"]')


def content_type_of(data: bytes) -> str | None:
    """What the bytes are (PDF, PNG, JPEG, GIF, WebP, UTF-8 text), whatever the client said;
    None for anything else."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        return None
    return TEXT


def safe_filename(name: str | None) -> str:
    """A file name fit for a Content-Disposition header: no path, no control character."""
    base = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    base = _UNSAFE_NAME.sub("_", base).strip(" .")[:255]
    return base or "attachment"


@dataclass(frozen=True)
class AttachmentView:
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    created_at: datetime


def read_upload(stream: BinaryIO, limit: int | None = None) -> bytes:
    """The uploaded bytes; AttachmentTooLarge beyond `limit` (MAX_BYTES by default; reads one
    byte past it at most)."""
    limit = MAX_BYTES if limit is None else limit
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise AttachmentTooLarge(limit)
    return data


def add_attachment(
    uow: UnitOfWork,
    store: AttachmentStore,
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    filename: str | None,
    stream: BinaryIO,
) -> AttachmentView:
    """Attach a file to a custom entry: at most MAX_BYTES, of a type its content shows."""
    data = read_upload(stream)
    content_type = content_type_of(data)
    if content_type is None:
        raise UnsupportedAttachment()
    attachment = TimelineAttachment(
        id=uuid.uuid4(),
        entry_id=entry_id,
        customer_id=customer_id,
        filename=safe_filename(filename),
        content_type=content_type,
        size=len(data),
        created_at=utcnow(),
    )
    with uow:
        entry = _entry(uow.session, customer_id, entry_id, lock=True)
        if entry.type != CUSTOM:
            raise EventEntryIsFixed(entry_id)
        held = uow.session.scalars(
            select(TimelineAttachment.id).where(TimelineAttachment.entry_id == entry_id)
        ).all()
        if len(held) >= MAX_PER_ENTRY:
            raise AttachmentTooLarge(MAX_BYTES, f"an entry holds at most {MAX_PER_ENTRY} files")
        store.save(attachment.id, data, content_type)
        try:
            uow.session.add(attachment)
            uow.commit()
        except BaseException:
            store.delete(attachment.id)
            raise
    return _view(attachment)


def get_attachment(
    reads: sessionmaker[Session],
    store: AttachmentStore,
    customer_id: uuid.UUID,
    entry_id: uuid.UUID,
    attachment_id: uuid.UUID,
) -> tuple[AttachmentView, bytes]:
    """An attachment and its bytes; CustomerNotFound, EntryNotFound, AttachmentNotFound."""
    with reads() as session:
        _entry(session, customer_id, entry_id)
        attachment = session.get(TimelineAttachment, attachment_id)
        if attachment is None or attachment.entry_id != entry_id:
            raise AttachmentNotFound(attachment_id)
        view = _view(attachment)
    try:
        return view, store.read(attachment_id)
    except AttachmentNotStored:
        raise AttachmentNotFound(attachment_id) from None


def attachments_of(
    session: Session, entry_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[AttachmentView]]:
    """The attachments of these entries, oldest first, by entry."""
    found: dict[uuid.UUID, list[AttachmentView]] = {}
    if not entry_ids:
        return found
    for attachment in session.scalars(
        select(TimelineAttachment)
        .where(TimelineAttachment.entry_id.in_(entry_ids))
        .order_by(TimelineAttachment.created_at, TimelineAttachment.id)
    ):
        found.setdefault(attachment.entry_id, []).append(_view(attachment))
    return found


def sweep_orphans(session_factory: sessionmaker[Session], store: AttachmentStore) -> int:
    """Delete the stored files no attachment row names any more (deleted entries, customers);
    how many went."""
    candidates = store.stored(SWEEP_GRACE_SECONDS)
    if not candidates:
        return 0
    with session_factory() as session:
        kept = set(
            session.scalars(
                select(TimelineAttachment.id).where(TimelineAttachment.id.in_(candidates))
            )
        )
    gone = [attachment_id for attachment_id in candidates if attachment_id not in kept]
    for attachment_id in gone:
        store.delete(attachment_id)
    return len(gone)


def _entry(
    session: Session, customer_id: uuid.UUID, entry_id: uuid.UUID, lock: bool = False
) -> TimelineEntry:
    if session.get(Customer, customer_id) is None:
        raise CustomerNotFound(customer_id)
    entry = session.get(TimelineEntry, entry_id, with_for_update=lock)
    if entry is None or entry.customer_id != customer_id:
        raise EntryNotFound(entry_id)
    return entry


def _view(attachment: TimelineAttachment) -> AttachmentView:
    return AttachmentView(
        id=attachment.id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        created_at=attachment.created_at,
    )
