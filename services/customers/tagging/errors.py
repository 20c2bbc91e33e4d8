"""Refusals of the tagging, statuses and bulk use cases; the API turns each into its answer."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

# One "no such customer" refusal for the whole service; re-exported for the tagging views.
from services.customers.profiles.errors import CustomerNotFound
from shared.api import Refusal

__all__ = [
    "BulkDeleteNotConfirmed",
    "BulkJobNotFound",
    "CustomerNotFound",
    "InvalidFilter",
    "StatusConflict",
    "StatusNotFound",
    "TagCreationForbidden",
    "TagNameRefused",
    "TaggingError",
    "UnknownStatusKey",
    "UnknownTags",
]


class TaggingError(Refusal):
    """A use case refused; the message says why, for the person who asked."""


class UnknownTags(TaggingError):
    """Tag ids neither the local tag catalogue nor the tags service knows (422 on the field that
    named them: a name, or a path such as `("filter", "tag")`, in the body or the `query`)."""

    def __init__(
        self,
        tag_ids: Iterable[uuid.UUID],
        field: str | tuple[str, ...] = "tag_ids",
        location: str = "json",
    ) -> None:
        self.tag_ids = sorted(set(tag_ids))
        listed = ", ".join(str(tag_id) for tag_id in self.tag_ids)
        super().__init__(f"unknown tag ids: {listed}")
        self.path = (field,) if isinstance(field, str) else tuple(field)
        self.field = self.path[0]
        self.location = location

    def field_errors(self) -> dict[str, object]:
        errors: object = [str(self)]
        for name in reversed(self.path):
            errors = {name: errors}
        return {self.location: errors}


class TagCreationForbidden(TaggingError):
    """A new tag name from a caller without `tags:write` (403): whatever the door, creating a
    tag needs the tags service's own permission."""

    status, field = 403, "name"

    def __init__(self, name: str) -> None:
        super().__init__(f"no tag is named {name!r}, and creating one needs the scope tags:write")
        self.name = name


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


class BulkDeleteNotConfirmed(TaggingError):
    """A bulk delete of many customers without `confirm`, or with another number (409)."""

    status, field = 409, "confirm"

    def __init__(self, matched: int, confirm: int | None) -> None:
        given = "" if confirm is None else f", not {confirm}"
        super().__init__(
            f"this delete would remove {matched} customers; to go ahead, send"
            f' "confirm": {matched}{given}'
        )
        self.matched = matched
        self.confirm = confirm
