"""The refusals of the timeline use cases."""

from __future__ import annotations

import uuid

from shared.api import Refusal


class EntryNotFound(Refusal):
    """No entry of this customer has this id (404)."""

    status = 404

    def __init__(self, entry_id: uuid.UUID) -> None:
        super().__init__(f"no timeline entry of this customer has the id {entry_id}")


class EventEntryIsFixed(Refusal):
    """An event's entry records what happened: it is neither edited nor deleted (409)."""

    status = 409

    def __init__(self, entry_id: uuid.UUID) -> None:
        super().__init__(
            f"the timeline entry {entry_id} records an event; only custom entries change"
        )


class AttachmentNotFound(Refusal):
    """No attachment of this entry has this id (404)."""

    status = 404

    def __init__(self, attachment_id: uuid.UUID) -> None:
        super().__init__(f"no attachment of this entry has the id {attachment_id}")


class AttachmentTooLarge(Refusal):
    """Over the size limit, or one file too many for the entry (413)."""

    status, location, field = 413, "files", "file"

    def __init__(self, limit: int, message: str | None = None) -> None:
        super().__init__(message or f"an attachment is at most {limit // (1024 * 1024)} MB")


class UnsupportedAttachment(Refusal):
    """The content is none of the accepted types, whatever its name or declared type (415)."""

    status, location, field = 415, "files", "file"

    def __init__(self) -> None:
        super().__init__("an attachment is a PDF, PNG, JPEG, GIF or WebP image, or UTF-8 text")
