"""Refusals of the tagging, statuses and bulk use cases; the API turns each into its answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

# One "no such customer" refusal for the whole service; re-exported for the tagging views.
from services.customers.profiles.errors import CustomerNotFound
from shared.api import Refusal

__all__ = [
    "BulkJobNotFound",
    "CustomerNotFound",
    "InvalidFilter",
    "StatusConflict",
    "StatusNotFound",
    "TagNameRefused",
    "TaggingError",
    "UnknownStatusKey",
    "UnknownTags",
]


class TaggingError(Refusal):
    """A use case refused; the message says why, for the person who asked."""


class UnknownTags(TaggingError):
    """Tag ids the local tag catalogue does not know (422 on the field that named them)."""

    def __init__(self, tag_ids: Iterable[uuid.UUID], field: str = "tag_ids") -> None:
        self.tag_ids = sorted(set(tag_ids))
        listed = ", ".join(str(tag_id) for tag_id in self.tag_ids)
        super().__init__(f"unknown tag ids: {listed}")
        self.field = field


class TagNameRefused(TaggingError):
    """The tags service refused to create a tag of this name (422 on `name`)."""

    field = "name"


class StatusNotFound(TaggingError):
    """No status has this key (404)."""

    status = 404

    def __init__(self, key: str) -> None:
        super().__init__(f"no status has the key {key!r}")
        self.key = key


class StatusConflict(TaggingError):
    """The status exists already, is a default one, or is in use (409)."""

    status = 409


class UnknownStatusKey(TaggingError):
    """A status key given as a value that the catalogue does not know (422 on `status`)."""

    field = "status"

    def __init__(self, key: str) -> None:
        super().__init__(f"unknown status {key!r}; see GET /customers/statuses")
        self.key = key


class InvalidFilter(TaggingError):
    """A bulk `filter` that cannot be applied (422 on `filter`); `errors` by field."""

    def __init__(self, message: str, errors: dict[str, object]) -> None:
        super().__init__(message)
        self.errors = errors

    def field_errors(self) -> dict[str, object]:
        return {"json": {"filter": self.errors}}


class BulkJobNotFound(TaggingError):
    """No bulk job has this id (404)."""

    status = 404

    def __init__(self, job_id: uuid.UUID) -> None:
        super().__init__(f"no bulk job has the id {job_id}")
        self.job_id = job_id
