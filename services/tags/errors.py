"""The refusals of the tag use cases; the API turns each into its HTTP answer."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from shared.api import Refusal

if TYPE_CHECKING:
    from services.tags.models import Tag


class TagError(Refusal):
    """A use case refused; the message says why, for the person who asked."""


class TagNotFound(TagError):
    """No tag has this id."""

    status = 404

    def __init__(self, tag_id: uuid.UUID) -> None:
        super().__init__(f"no tag has the id {tag_id}")
        self.tag_id = tag_id


class DuplicateTagName(TagError):
    """Another tag already has this name, whatever the case."""

    status, field = 409, "name"

    def __init__(self, existing: Tag) -> None:
        super().__init__(f"a tag named {existing.name!r} already exists (id {existing.id})")
        self.existing = existing


class FixedTagProtected(TagError):
    """The change would remove or rename a fixed tag."""

    status = 409


class InvalidMerge(TagError):
    """The merge asked makes no sense (into itself, into a tag that does not exist)."""

    field = "into"
