"""Request and response schemas of the tags API, split by role; input is normalised here."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import marshmallow as ma

from services.tags.models import DESCRIPTION_MAX_LENGTH, NAME_MAX_LENGTH, name_key
from shared.api import PageArgsSchema, Schema, page_schema
from shared.text import String

_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
ORDER_RANGE = ma.validate.Range(min=-(2**31), max=2**31 - 1)
READ_ONLY_FIELDS = ("id", "is_fixed", "customers_count", "created_at", "updated_at")
ENSURE_MAX_NAMES = 500


def normalize_color(value: str) -> str:
    """`#abc`, `#AABBCC` and `#aabbcc` all become `#aabbcc`; ValueError for anything else."""
    if not _COLOR.match(value):
        raise ValueError(value)
    digits = value[1:].lower()
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    return f"#{digits}"


def _has_format_characters(text: str) -> bool:
    # Invisible characters (zero-width space, bidi marks) would make look-alike names.
    return any(unicodedata.category(char) == "Cf" for char in text)


class TagName(String):
    """A tag name: trimmed, Unicode-composed, 1-64 characters, no invisible characters.

    Control characters are refused by every schema (`shared.text`).
    """

    default_error_messages = {
        "blank": "a tag name cannot be blank",
        "too_long": f"a tag name has at most {NAME_MAX_LENGTH} characters",
        "control": "a tag name cannot contain invisible formatting characters",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = unicodedata.normalize("NFC", super()._deserialize(value, attr, data, **kwargs))
        text = text.strip()
        if not text:
            raise self.make_error("blank")
        if len(text) > NAME_MAX_LENGTH:
            raise self.make_error("too_long")
        if _has_format_characters(text):
            raise self.make_error("control")
        return text


class Description(String):
    """A description: trimmed, 1-1000 characters, on several lines if need be."""

    default_error_messages = {
        "blank": "a description is required and cannot be blank",
        "too_long": f"a description has at most {DESCRIPTION_MAX_LENGTH} characters",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(multiline=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise self.make_error("blank")
        if len(text) > DESCRIPTION_MAX_LENGTH:
            raise self.make_error("too_long")
        return text


class Color(ma.fields.String):
    """A colour as `#RRGGBB` (or `#RGB`), in any case; always answered as lower-case `#rrggbb`."""

    default_error_messages = {"color": "a colour is written #RRGGBB, e.g. #1e88e5"}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        try:
            return normalize_color(super()._deserialize(value, attr, data, **kwargs).strip())
        except ValueError:
            raise self.make_error("color") from None


class TagSchema(Schema):
    """A tag as the API answers it."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True)
    color = ma.fields.String(dump_only=True)
    order = ma.fields.Integer(dump_only=True, allow_none=True)
    is_fixed = ma.fields.Boolean(dump_only=True)
    customers_count = ma.fields.Integer(
        dump_only=True,
        metadata={"description": "How many customers carry the tag (what a deletion affects)."},
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class _TagWriteSchema(Schema):
    """Refuses the fields the service sets itself with a clearer message than 'unknown field'."""

    @ma.pre_load
    def _refuse_read_only(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            sent = [name for name in READ_ONLY_FIELDS if name in data]
            if sent:
                raise ma.ValidationError(
                    {name: ["read-only: the service sets this field"] for name in sent}
                )
        return data


class TagCreateSchema(_TagWriteSchema):
    """`POST /tags`: a new tag."""

    name = TagName(required=True)
    description = Description(required=True)
    color = Color(required=True, metadata={"example": "#1e88e5"})
    order = ma.fields.Integer(strict=True, allow_none=True, load_default=None, validate=ORDER_RANGE)


class TagUpdateSchema(_TagWriteSchema):
    """`PATCH /tags/{id}`: the fields to change; `order` may be set to null."""

    name = TagName()
    description = Description()
    color = Color(metadata={"example": "#1e88e5"})
    order = ma.fields.Integer(strict=True, allow_none=True, validate=ORDER_RANGE)


class TagQueryArgsSchema(PageArgsSchema):
    """`GET /tags`: `q` finds tags whose name contains it, whatever the case."""

    q = ma.fields.String(load_default=None, validate=ma.validate.Length(max=NAME_MAX_LENGTH))


class TagMergeSchema(Schema):
    """`POST /tags/{id}/merge`: the tag that absorbs this one."""

    into = ma.fields.UUID(required=True)


class TagEnsureSchema(Schema):
    """`POST /tags/ensure`: names to find or create; duplicates (any case) count once."""

    names = ma.fields.List(
        TagName(),
        required=True,
        validate=ma.validate.Length(
            min=1, max=ENSURE_MAX_NAMES, error=f"between 1 and {ENSURE_MAX_NAMES} names"
        ),
    )

    @ma.post_load
    def _deduplicate(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        unique: dict[str, str] = {}
        for name in data["names"]:
            unique.setdefault(name_key(name), name)
        return {"names": list(unique.values())}


class TagListSchema(Schema):
    """The tags of `POST /tags/ensure`, in the order the names were asked."""

    items = ma.fields.List(ma.fields.Nested(TagSchema), required=True)


TagPageSchema = page_schema(TagSchema, "TagPageSchema")
